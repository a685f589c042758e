"""A java-tron HTTP request's parameters read as java-tron reads them (visible, hex or base58).

A bad parameter is a `BadRequest`, answered as java-tron does: HTTP 200 with {"Error": ...}.
"""

from __future__ import annotations

from typing import Any

from tronpy.keys import to_raw_address

Params = dict[str, Any]


class BadRequest(ValueError):
    """Answered as java-tron does: HTTP 200 with {"Error": ...}."""


def _visible(params: Params) -> bool:
    v = params.get("visible", False)
    return v is True or (isinstance(v, str) and v.lower() == "true")


def _address(params: Params, key: str) -> bytes:
    value = params.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key} is required")
    try:
        raw = bytes(to_raw_address(value))
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"invalid {key}: {value!r}") from exc
    if len(raw) != 21 or raw[0] != 0x41:
        raise BadRequest(f"invalid {key}: {value!r}")
    return raw


def _int(params: Params, key: str, default: int | None = None) -> int:
    value = params.get(key, default)
    if value is None:
        raise BadRequest(f"{key} is required")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{key} must be an integer") from exc


def _token_id(params: Params, key: str, visible: bool) -> str:
    value = params.get(key)
    if not isinstance(value, str | int) or value == "":
        raise BadRequest(f"{key} is required")
    if isinstance(value, int) or visible:
        return str(value)
    try:
        return bytes.fromhex(value).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{key} must be hex when visible is false") from exc
