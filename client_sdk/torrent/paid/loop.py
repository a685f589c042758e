"""A private asyncio event loop on its own thread, for code driven from other threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self._name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.loop is not None

    def start(self) -> asyncio.AbstractEventLoop:
        if self.loop is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        self.loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
        self._thread.start()
        return loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for its result."""
        if self.loop is None:
            raise RuntimeError("not started")
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run `fn` on the loop (reads of state owned by the loop) and return its result."""

        async def run() -> T:
            return fn()

        return self.run(run(), timeout)

    def soon(self, fn: Callable[..., object], *args: object) -> None:
        """Schedule `fn(*args)` on the loop from any thread; dropped once stopped."""
        loop = self.loop
        if loop is not None:
            loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        loop = self.loop
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self.loop = None
