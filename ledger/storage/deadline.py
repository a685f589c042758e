"""How long the database may take for the work in hand.

An RPC handler knows its caller's deadline; the store, several calls below it on a worker
thread, must stop in time for the answer to reach the caller. The handler sets the deadline
here (a context variable) and every transaction and connection it opens is bounded by it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("db_deadline", default=None)


@contextmanager
def until(deadline: float | None) -> Iterator[None]:
    """Bound the database work in this block by `deadline` (`time.monotonic()` seconds)."""
    earlier = _deadline.get()
    if deadline is not None and earlier is not None:
        deadline = min(deadline, earlier)
    token = _deadline.set(deadline if deadline is not None else earlier)
    try:
        yield
    finally:
        _deadline.reset(token)


def caller() -> float | None:
    """The deadline set by the caller, if any."""
    return _deadline.get()


def deadline_for(timeout: float) -> float:
    """The deadline of work that may take at most `timeout` seconds from now (or less when the
    caller's deadline comes sooner)."""
    own = time.monotonic() + timeout
    caller = _deadline.get()
    return own if caller is None else min(own, caller)
