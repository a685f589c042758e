"""A logging filter that writes a repeating warning once, then a count now and then.

A bridge pass runs every second; a problem that persists (no TRX for bandwidth, a node down)
would otherwise fill the log with the same line. The first occurrence is written at once; the
same message again within `every` seconds is counted instead, and written with its count when
`every` has passed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_TRACKED = 256


class CollapseRepeats(logging.Filter):
    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self._clock = clock
        self._seen: OrderedDict[tuple[str, int, str], tuple[float, int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        key = (record.name, record.levelno, message)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None:
            self._remember(key, now, 0)
            return True
        written_at, repeats = seen
        repeats += 1
        if now - written_at < self.every:
            self._remember(key, written_at, repeats)
            return False
        record.msg = f"{message} (repeated {repeats} times in {now - written_at:.0f} s)"
        record.args = ()
        self._remember(key, now, 0)
        return True

    def _remember(self, key: tuple[str, int, str], at: float, repeats: int) -> None:
        self._seen[key] = (at, repeats)
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_TRACKED:
            self._seen.popitem(last=False)
