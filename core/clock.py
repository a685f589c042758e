"""Time for the ledger: injectable so tests can move past an expiry without sleeping."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from core.types import Timestamp


class Clock(Protocol):
    def now(self) -> Timestamp: ...


class SystemClock:
    def now(self) -> Timestamp:
        return Timestamp(int(time.time()))


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: int | None = None) -> None:
        # Default: now, so that other processes' real clocks agree with it until it is moved.
        self._now = int(time.time()) if start is None else start
        self._lock = threading.Lock()

    def now(self) -> Timestamp:
        with self._lock:
            return Timestamp(self._now)

    def advance(self, seconds: int) -> Timestamp:
        with self._lock:
            self._now += seconds
            return Timestamp(self._now)

    def set(self, when: int) -> None:
        with self._lock:
            self._now = when
