"""Subscribe's live side: one reader of the event stream per process, fanning events out.

Each ledger process runs one hub. It wakes when this process commits events (the service's
bell), when another process did (PostgreSQL NOTIFY from whoever gave them stream positions; on
SQLite, the file bell the committing process rings), or on a slow tick. It has newly committed
events numbered (PostgreSQL), reads what follows its cursor once for everyone, and offers each
event to the streams that want it: the unfiltered ones and those filtered on one of its
accounts, found by a dict lookup, so a stream filtered on an idle account costs nothing until
an event names that account. The hub never waits for a stream: one that falls `backlog` events
behind, or whose transport takes no event for `write_stall` seconds, is cut off and told where
to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from btt.ledger.v1 import ledger_pb2 as pb
from core.rejections import TOO_MANY_STREAMS
from ledger.rpc import convert
from ledger.service import LedgerService

log = logging.getLogger(__name__)
Run = Callable[..., Awaitable[Any]]
Listen = Callable[[Callable[[], None]], Coroutine[Any, Any, None]]

PAGE = 256  # events read at once; a stream's backlog is never below this


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """What one ledger process allows its Subscribe streams."""

    max_streams: int = 1024
    max_per_client: int = 64  # per client address
    max_per_filter: int = 4  # per client address and account filter ("" = every event)
    max_unfiltered: int = 16  # every event to every one of these: the expensive kind
    # A stream is too slow when this many events wait for it (they are shared messages, so the
    # cost is a reference each), or when one event waits this long to be taken by its transport.
    backlog: int = 4096
    write_stall: float = 10.0

    def __post_init__(self) -> None:
        if self.backlog < PAGE:
            raise ValueError(f"backlog must be at least {PAGE}: the hub reads that many at once")


class StreamRefused(Exception):
    """A stream that may not be opened or may not go on: the reason is a wire code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Subscription:
    """One Subscribe stream as the hub sees it: a filter, a bounded queue, its task."""

    __slots__ = (
        "account",
        "backlog",
        "client",
        "horizon",
        "live",
        "offered",
        "queue",
        "ready",
        "sent",
        "task",
        "too_slow",
    )

    def __init__(self, client: str, account: str, task: asyncio.Task[Any], backlog: int) -> None:
        self.client = client
        self.account = account
        self.task = task
        self.backlog = backlog
        self.queue: deque[pb.Event] = deque()
        self.ready = asyncio.Event()
        self.live = False
        self.horizon = 0  # the hub's cursor when the stream went live
        self.too_slow = False
        self.sent = 0  # the position of the last event written to the stream
        self.offered = 0  # events the hub offered (the cost of this stream to everyone else)

    def offer(self, event: pb.Event) -> None:
        if not self.live or self.too_slow:
            return
        self.offered += 1
        if len(self.queue) >= self.backlog:
            self.too_slow = True
            self.task.cancel()  # it is stuck in a write or behind it; the servicer says why
            return
        self.queue.append(event)
        self.ready.set()

    async def take(self) -> list[pb.Event]:
        await self.ready.wait()
        self.ready.clear()
        events = list(self.queue)
        self.queue.clear()
        return events


class EventHub:
    def __init__(
        self,
        service: LedgerService,
        run: Run,
        limits: StreamLimits | None = None,
        *,
        listen: Listen | None = None,
        tick: float | None = None,
    ) -> None:
        self.service = service
        self.run = run  # runs a blocking service call on the database pool
        self.limits = limits or StreamLimits()
        self.listen = listen  # how other processes' news arrives (NOTIFY, a file bell)
        # The tick covers news lost while a listener reconnects, and events committed by a process
        # that died before it could tell anyone; without a listener it is how they arrive.
        self.tick = tick if tick is not None else (2.0 if listen else 0.2)
        self.cursor = 0
        self._unfiltered: set[Subscription] = set()
        self._by_account: dict[str, set[Subscription]] = {}
        self._per_client: Counter[str] = Counter()
        self._per_filter: Counter[tuple[str, str]] = Counter()
        self._count = 0
        self._wake = asyncio.Event()
        self._to_number = True  # this process committed events that may need numbering
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unlisten: Callable[[], None] | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.cursor = await self.run(self.service.last_event_id)
        self._unlisten = self.service.bell.listen(self.wake)
        self._tasks.append(asyncio.create_task(self._pump(), name="event-hub"))
        if self.listen is not None:
            self._tasks.append(asyncio.create_task(self.listen(self.heard), name="event-listen"))

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def wake(self) -> None:
        """Thread-safe: this process committed events."""
        self._to_number = True
        self.heard()

    def heard(self) -> None:
        """Thread-safe: another process has new events (and numbered them)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # ---------------------------------------------------------------- streams

    @property
    def streams(self) -> int:
        return self._count

    def join(self, client: str, account: str, task: asyncio.Task[Any]) -> Subscription:
        limits = self.limits
        if self._count >= limits.max_streams:
            raise StreamRefused(
                TOO_MANY_STREAMS, f"this ledger serves {limits.max_streams} streams"
            )
        if self._per_client[client] >= limits.max_per_client:
            raise StreamRefused(
                TOO_MANY_STREAMS, f"at most {limits.max_per_client} streams per client address"
            )
        if self._per_filter[client, account] >= limits.max_per_filter:
            raise StreamRefused(
                TOO_MANY_STREAMS,
                f"at most {limits.max_per_filter} streams per client address for one filter",
            )
        if not account and len(self._unfiltered) >= limits.max_unfiltered:
            raise StreamRefused(
                TOO_MANY_STREAMS,
                f"at most {limits.max_unfiltered} streams of every event; filter by account",
            )
        sub = Subscription(client, account, task, limits.backlog)
        self._count += 1
        self._per_client[client] += 1
        self._per_filter[client, account] += 1
        if account:
            self._by_account.setdefault(account, set()).add(sub)
        else:
            self._unfiltered.add(sub)
        return sub

    def subscriptions(self) -> list[Subscription]:
        """Every open stream (a snapshot)."""
        return [*self._unfiltered, *(s for subs in self._by_account.values() for s in subs)]

    def go_live(self, sub: Subscription) -> int:
        """From now on the stream is offered every event after the returned position."""
        sub.live = True
        sub.horizon = self.cursor
        return sub.horizon

    def leave(self, sub: Subscription) -> None:
        if sub.account:
            subs = self._by_account.get(sub.account)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if not subs:
                del self._by_account[sub.account]
        elif sub in self._unfiltered:
            self._unfiltered.discard(sub)
        else:
            return
        self._count -= 1
        self._per_client[sub.client] -= 1
        if not self._per_client[sub.client]:
            del self._per_client[sub.client]
        key = (sub.client, sub.account)
        self._per_filter[key] -= 1
        if not self._per_filter[key]:
            del self._per_filter[key]

    # ---------------------------------------------------------------- reading

    async def _pump(self) -> None:
        pause = 0.05
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that
                # arrives as the wait ends, and the pump then outlives stop().
                async with asyncio.timeout(self.tick):
                    await self._wake.wait()
            except TimeoutError:
                self._to_number = True  # events of a process that died before numbering them
            self._wake.clear()
            try:
                await self._read_new()
                pause = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again, a little later
                log.warning("event hub could not read events: %s", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                self._to_number = True
                self._wake.set()

    async def _read_new(self) -> None:
        if self._to_number:
            self._to_number = False
            await self.run(self.service.number_events)
        while True:
            page = await self.run(self.service.event_page, self.cursor, PAGE)
            for event, channel in page:
                message = convert.event_to_pb(event, channel)
                self.cursor = event.event_id
                for sub in self._unfiltered:
                    sub.offer(message)
                for account in set(event.accounts):
                    for sub in self._by_account.get(account, ()):
                        sub.offer(message)
            if len(page) < PAGE:
                return
