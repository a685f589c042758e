"""The SDK's bid announcer against a real tracker on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from client_sdk.tracker import Announce, AnnounceReply, TrackerClient
from client_sdk.tracker.announcer import BidAnnouncer, Offer, http_trackers
from tracker.requests import BidScrapeRequest
from tracker.server import TrackerConfig, TrackerServer
from tracker.swarms import TrackerLimits

IH = b"\x05" * 20


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_only_http_trackers_are_announced_to() -> None:
    urls = ["udp://t:1/announce", "http://a/announce", "https://b/announce", "http://a/announce"]
    assert http_trackers(urls) == ["http://a/announce", "https://b/announce"]


async def test_announces_bids_changes_and_stops() -> None:
    server = TrackerServer(
        "127.0.0.1", 0, TrackerConfig(limits=TrackerLimits(interval=2, min_interval=1))
    )
    url = await server.start()
    replies: list[tuple[bytes, str, AnnounceReply]] = []
    seller = BidAnnouncer("127.0.0.21", 6881, lambda ih, u, r: replies.append((ih, u, r)))
    buyer = BidAnnouncer("127.0.0.22", 6882, lambda ih, u, r: None)
    try:
        assert not seller.track(IH, ["udp://nowhere:1/announce"], lambda: 0)
        assert seller.track(IH, [url], lambda: 0, Offer(payee_port=50051, bid_order=True))
        assert buyer.track(IH, [url], lambda: 1000, Offer(bid=300))
        seller.start()
        buyer.start()

        def bid() -> int:
            found = server.swarms.bidscrape(BidScrapeRequest((IH,)), time.monotonic())
            return found[IH].highest if IH in found else 0

        await until(lambda: bid() == 300 and server.swarms.peer_count == 2)
        buyer.update(IH, bid=900)
        await until(lambda: bid() == 900)
        # The seller's periodic re-announce (interval 2 s) brings the bidder with its new bid.
        await until(lambda: any(b.bid == 900 for _, _, r in replies for b in r.bid_peers))
        last = replies[-1][2]
        assert [(b.ip, b.port, b.payee_port) for b in last.bid_peers] == [("127.0.0.22", 6882, 0)]
        async with TrackerClient(local_ip="127.0.0.23") as client:
            reply = await client.announce(url, Announce(IH, b"z" * 20, 7000, left=5))
        assert reply.peers and not reply.bid_peers  # no extension asked: plain answer
        await buyer.stop()
        await until(lambda: server.swarms.peer_count == 2)  # seller + the plain client
        assert bid() == 0
    finally:
        await seller.stop()
        await buyer.stop()
        await server.stop()
