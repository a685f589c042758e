"""Ends database calls that outlive their deadline by cutting the connection's socket.

Server-side limits (statement_timeout) cannot end a wait on a connection that went silent: the
server may have answered long ago and something on the path lost the reply. TCP keepalives and
tcp_user_timeout do not help when a middlebox still acknowledges. Shutting the socket down makes
the driver's blocked read fail at once; the pool then discards the connection.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time


class Watchdog:
    """One thread per store; `arm` a connection's socket with a deadline, `disarm` when done."""

    def __init__(self, name: str = "db-watchdog") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, int]] = {}  # token -> (deadline, duplicated fd)
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._earliest = float("inf")
        self.cuts = 0  # connections cut so far (for tests and logs)

    def arm(self, fd: int, deadline: float) -> int:
        # A duplicate keeps the socket alive (and ours to shut down) even if the driver closes
        # its own descriptor and the number is reused by another connection meanwhile.
        dup = os.dup(fd)
        with self._cond:
            token = next(self._tokens)
            self._armed[token] = (deadline, dup)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if deadline < self._earliest:
                self._earliest = deadline
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            entry = self._armed.pop(token, None)
        if entry is not None:
            os.close(entry[1])

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, fd) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        _cut(fd)
                        self.cuts += 1
                self._earliest = min((d for d, _ in self._armed.values()), default=float("inf"))
                self._cond.wait(min(self._earliest - now, 60.0) if self._armed else 60.0)


def _cut(fd: int) -> None:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return
    with contextlib.suppress(OSError), sock:
        sock.shutdown(socket.SHUT_RDWR)
