"""The stored outcome of a request, so that the same signed request answers the same again.

Results are frozen dataclasses of ints, strings, bytes and enums; they are stored as JSON by
field name (bytes as hex, enums by value), never as Python class paths.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
D = TypeVar("D")


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _base_type(hint: Any) -> Any:
    """int for Amount (a NewType of int), the enum for `SettleReason | None`, and so on."""
    while hasattr(hint, "__supertype__"):
        hint = hint.__supertype__
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base_type(hint)
    return hint


def dump(obj: object) -> dict[str, object]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


def load(cls: type[D], data: dict[str, Any]) -> D:
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = data[f.name]
        kind = _base_type(hints[f.name])
        if raw is None:
            values[f.name] = None
        elif kind is bytes:
            values[f.name] = bytes.fromhex(raw)
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            values[f.name] = kind(raw)
        else:
            values[f.name] = raw
    return cls(**values)


@dataclass(frozen=True, slots=True)
class ReplyCodec(Generic[T]):
    to_json: Callable[[T], object]
    from_json: Callable[[Any], T]

    def encode(self, result: T) -> str:
        return json.dumps(self.to_json(result), separators=(",", ":"), sort_keys=True)

    def decode(self, stored: str) -> T:
        return self.from_json(json.loads(stored))


def record_codec(cls: type[D]) -> ReplyCodec[D]:
    """For a result that is one dataclass."""
    return ReplyCodec(dump, lambda data: load(cls, data))
