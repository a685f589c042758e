"""Controlling a running paid download: a Unix socket beside it takes one JSON request per
connection and answers with one JSON line.

Requests: {"budget": units} and/or {"spending_rate": percent, "info_hash": optional}; an empty
request only reads the state. The change takes effect at once (the autobid re-bids on the next
round of the download loop). The answer is {"ok": true, "budget", "spent", "locked", "bids"} or
{"ok": false, "error": "..."}. `btt control` is the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any, Protocol

from client_sdk.torrent.market import SpendingRate

MAX_REQUEST = 4096  # bytes


class ControlError(Exception):
    """The control socket cannot be reached, or it refused the request (one line)."""


class Controlled(Protocol):
    @property
    def budget(self) -> int: ...
    @property
    def spent(self) -> int: ...
    @property
    def locked(self) -> int: ...

    def set_budget(self, budget: int) -> None: ...
    def set_spending_rate(self, rate: SpendingRate, info_hash: str | None = None) -> None: ...
    def current_bids(self) -> dict[str, int]: ...


def _positive_int(request: dict[str, Any], key: str) -> int | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} must be a whole number >= 0, got {value!r}")
    return value


def apply(target: Controlled, request: Any) -> dict[str, Any]:
    """Apply one request; the answer (never raises on bad input)."""
    try:
        if not isinstance(request, dict):
            raise ValueError("expected a JSON object")
        unknown = set(request) - {"budget", "spending_rate", "info_hash"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        budget = _positive_int(request, "budget")
        percent = _positive_int(request, "spending_rate")
        info_hash = request.get("info_hash")
        if info_hash is not None and not isinstance(info_hash, str):
            raise ValueError("info_hash must be a hex string")
        if budget is not None:
            target.set_budget(budget)
        if percent is not None:
            target.set_spending_rate(SpendingRate.percent(percent), info_hash)
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}
    return {
        "ok": True,
        "budget": target.budget,
        "spent": target.spent,
        "locked": target.locked,
        "bids": target.current_bids(),
    }


class ControlServer:
    """Serves `apply` on a Unix socket at `path` on the running event loop."""

    def __init__(self, target: Controlled, path: Path) -> None:
        self.target = target
        self.path = path
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if self.path.exists():
            if alive(self.path):
                raise ControlError(f"another download is running (its control socket: {self.path})")
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        os.chmod(self.path, 0o600)  # only its user may change the budget

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            try:
                request = json.loads(line[:MAX_REQUEST] or b"{}")
            except ValueError:
                answer: dict[str, Any] = {"ok": False, "error": "not JSON"}
            else:
                answer = apply(self.target, request)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def alive(path: Path) -> bool:
    """A download answers on this socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def send(path: Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the download controlled at `path`; its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise ControlError(
                f"no running download answers at {path}: {exc.strerror or exc}"
            ) from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise ControlError(f"the download at {path} answered garbage") from None
    if not isinstance(answer, dict):
        raise ControlError(f"the download at {path} answered garbage")
    return answer
