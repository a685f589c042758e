"""The payee's Watch stream: each payer's `Service` pushed to it as it changes.

Runs on the seeder's event loop. Every change is an update with a growing sequence number; a
subscriber gets the current service at once, then every change in order (a slow subscriber that
falls `MAX_BACKLOG` behind skips to the newest: each update is a whole snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.torrent.paid.payers import Mode, Service

MAX_BACKLOG = 64

_MODES = {
    Mode.CHOKED: ppb.SERVICE_MODE_CHOKED,
    Mode.PAID: ppb.SERVICE_MODE_PAID,
    Mode.FREE: ppb.SERVICE_MODE_FREE,
}

Key = tuple[str, str]  # (payer, info hash)


def update_pb(info_hash: str, service: Service, sequence: int) -> ppb.ServiceUpdate:
    return ppb.ServiceUpdate(
        info_hash=info_hash,
        mode=_MODES[service.mode],
        rate=service.rate,
        credited=service.credited,
        window=service.window,
        credit_limit=service.credit_limit,
        reason=service.reason,
        sequence=sequence,
    )


class ServiceWatch:
    def __init__(self) -> None:
        self._last: dict[Key, ppb.ServiceUpdate] = {}
        self._subscribers: dict[Key, set[asyncio.Queue[ppb.ServiceUpdate]]] = {}

    def publish(self, payer: str, info_hash: str, service: Service) -> bool:
        """Record the payer's service; push it when it changed. Returns whether it did."""
        key = (payer, info_hash)
        last = self._last.get(key)
        sequence = last.sequence + 1 if last is not None else 1
        update = update_pb(info_hash, service, sequence)
        if last is not None:
            update.sequence = last.sequence
            if update == last:
                return False
            update.sequence = sequence
        self._last[key] = update
        for queue in self._subscribers.get(key, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(update)
        return True

    def last(self, payer: str, info_hash: str) -> ppb.ServiceUpdate | None:
        return self._last.get((payer, info_hash))

    async def updates(self, payer: str, info_hash: str) -> AsyncIterator[ppb.ServiceUpdate]:
        """The current service (once there is one), then every change."""
        key = (payer, info_hash)
        queue: asyncio.Queue[ppb.ServiceUpdate] = asyncio.Queue(MAX_BACKLOG)
        self._subscribers.setdefault(key, set()).add(queue)
        try:
            current = self._last.get(key)
            if current is not None:
                queue.put_nowait(current)
            while True:
                yield await queue.get()
        finally:
            subscribers = self._subscribers.get(key, set())
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(key, None)
