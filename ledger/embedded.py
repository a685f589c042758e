"""A ledger gRPC server in a background thread of this process (demo, tests, embedding apps)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.keepalive import Keepalive
from core.ratelimit import RateLimit
from ledger.rpc.server import RunningLedger, start_server
from ledger.rpc.subscriptions import StreamLimits
from ledger.service import LedgerService


@contextmanager
def serving_in_thread(
    service: LedgerService,
    listen: str = "127.0.0.1:0",
    *,
    treasury_token: str | None = None,
    sweep_interval: float | None = 1.0,
    stream_limits: StreamLimits | None = None,
    event_tick: float | None = None,
    rate_limit: RateLimit | None = None,
    keepalive: Keepalive | None = None,
) -> Iterator[RunningLedger]:
    """Serve until the block ends; the RunningLedger's `target` is where to connect."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ledger-server", daemon=True)
    thread.start()

    def call(coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)  # type: ignore[arg-type]

    try:
        running = call(
            start_server(
                service,
                listen,
                treasury_token=treasury_token,
                sweep_interval=sweep_interval,
                stream_limits=stream_limits,
                event_tick=event_tick,
                rate_limit=rate_limit,
                keepalive=keepalive,
            )
        )
        assert isinstance(running, RunningLedger)
        try:
            yield running
        finally:
            call(running.stop(0.5))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
