"""Announcing bids and payee ports to a torrent's HTTP trackers, beside libtorrent's own announces.

libtorrent announces every torrent as usual (any tracker kind, its own events and counters); it
cannot add query parameters or read unknown answer keys, so this announcer sends the extension
parameters (docs/tracker.md section 3) from the same address and BitTorrent port and hands each
answer's peers and `bidpeers` to `on_reply`. A tracker then sees one peer that carries a bid.

When: at once for a new torrent, then every `interval` the tracker asks for; at once again
(but never before its `min interval`) when the bid, payee port or wanted order changes. A
failing tracker is retried after 5 s, doubling up to the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from client_sdk.tracker.client import TrackerClient
from client_sdk.tracker.wire import Announce, AnnounceReply, TrackerError

log = logging.getLogger(__name__)

# (info hash, announce URL, answer) on the announcer's event loop.
ReplyHook = Callable[[bytes, str, AnnounceReply], None]

DEFAULT_INTERVAL = 1800.0
FIRST_RETRY = 5.0


def http_trackers(urls: Sequence[str]) -> list[str]:
    """The trackers this announcer can speak to (libtorrent alone handles udp:// ones)."""
    return [u for u in dict.fromkeys(urls) if u.startswith(("http://", "https://"))]


def new_peer_id() -> bytes:
    return b"-BT0100-" + os.urandom(6).hex().encode()


@dataclass(frozen=True, slots=True)
class Offer:
    """What we announce for one torrent besides the basics."""

    bid: int | None = None
    payee_port: int | None = None
    bid_order: bool = False
    bid_min: int = 0


@dataclass
class _Due:
    """When one tracker of one torrent is next announced to (monotonic seconds)."""

    at: float = 0.0
    not_before: float = 0.0
    interval: float = DEFAULT_INTERVAL
    retry: float = FIRST_RETRY
    started: bool = False

    def answered(self, now: float, reply: AnnounceReply) -> None:
        self.interval = float(max(reply.interval, 1))
        self.at = now + self.interval
        self.not_before = now + float(reply.min_interval or 0)
        self.retry = FIRST_RETRY
        self.started = True

    def failed(self, now: float) -> None:
        self.at = now + self.retry
        self.retry = min(self.retry * 2, self.interval)

    def changed(self, now: float) -> None:
        self.at = max(now, self.not_before)


@dataclass
class _Torrent:
    info_hash: bytes
    trackers: list[str]
    left: Callable[[], int]
    offer: Offer
    due: dict[str, _Due]


class BidAnnouncer:
    """Announces torrents from `local_ip` naming BitTorrent `port`; runs on one event loop."""

    def __init__(
        self,
        local_ip: str,
        port: int,
        on_reply: ReplyHook,
        *,
        peer_id: bytes | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.peer_id = peer_id or new_peer_id()
        self._client = TrackerClient(local_ip=local_ip, timeout=timeout)
        self._on_reply = on_reply
        self._clock = clock
        self._torrents: dict[bytes, _Torrent] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []

    def track(
        self,
        info_hash: bytes,
        trackers: Sequence[str],
        left: Callable[[], int],
        offer: Offer | None = None,
    ) -> bool:
        """Announce `info_hash` to its HTTP trackers from now on; False if it has none."""
        urls = http_trackers(trackers)
        if not urls:
            return False
        self._torrents[info_hash] = _Torrent(
            info_hash, urls, left, offer or Offer(), {u: _Due() for u in urls}
        )
        self._wake.set()
        return True

    @property
    def torrents(self) -> list[bytes]:
        return list(self._torrents)

    def offer(self, info_hash: bytes) -> Offer | None:
        t = self._torrents.get(info_hash)
        return None if t is None else t.offer

    def update(self, info_hash: bytes, **changes: object) -> None:
        """Change the offer (bid, payee port, order); a real change is announced soon."""
        t = self._torrents.get(info_hash)
        if t is None:
            return
        offer = replace(t.offer, **changes)  # type: ignore[arg-type]
        if offer == t.offer:
            return
        t.offer = offer
        now = self._clock()
        for due in t.due.values():
            due.changed(now)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="bid-announcer")

    async def stop(self, *, timeout: float = 5.0) -> None:
        """Stop announcing and tell the trackers we left (`event=stopped`)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        goodbyes = [
            self._announce(t, url, event="stopped")
            for t in self._torrents.values()
            for url, due in t.due.items()
            if due.started
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*goodbyes, return_exceptions=True), timeout)
        await self._client.close()

    async def _run(self) -> None:
        while True:
            now = self._clock()
            work = [
                (t, url, due)
                for t in list(self._torrents.values())
                for url, due in t.due.items()
                if due.at <= now
            ]
            for t, url, due in work:
                due.at = float("inf")  # in flight; set again by the answer or the failure
                task = asyncio.create_task(self._once(t, url, due))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            upcoming = [due.at for t in self._torrents.values() for due in t.due.values()]
            wait = max(0.0, min(upcoming, default=now + 60.0) - self._clock())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, 60.0)):  # wait_for (3.11) can eat a cancel
                    await self._wake.wait()

    async def _once(self, t: _Torrent, url: str, due: _Due) -> None:
        try:
            reply = await self._announce(t, url, event="" if due.started else "started")
        except TrackerError as exc:
            due.failed(self._clock())
            self.errors.append(f"{url}: {exc}")
            log.info("announce to %s failed: %s", url, exc)
        else:
            due.answered(self._clock(), reply)
            try:
                self._on_reply(t.info_hash, url, reply)
            except Exception:
                log.exception("tracker reply handler failed")
        self._wake.set()

    async def _announce(self, t: _Torrent, url: str, *, event: str) -> AnnounceReply:
        o = t.offer
        return await self._client.announce(
            url,
            Announce(
                info_hash=t.info_hash,
                peer_id=self.peer_id,
                port=self.port,
                left=max(0, t.left()),
                event=event,
                bid=o.bid,
                payee_port=o.payee_port,
                bid_order=o.bid_order,
                bid_min=o.bid_min,
            ),
        )
