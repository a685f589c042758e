"""The tracker over real HTTP on loopback, checked at the bencode level.

The worked example of docs/tracker.md is replayed request by request and every answer it shows
must match byte for byte.
"""

from __future__ import annotations

import ast
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote_from_bytes

import aiohttp
import libtorrent as lt
import pytest

from client_sdk.tracker import Announce, BidPeer, TrackerClient, TrackerError
from tracker.ratelimit import RateLimit
from tracker.server import TrackerConfig, TrackerServer
from tracker.swarms import TrackerLimits

DOC = Path(__file__).resolve().parents[2] / "docs" / "tracker.md"
IH = bytes(range(20))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def get(url: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.get(url) as resp:
        return resp.status, await resp.read()


def announce_path(peer: int, **extra: object) -> str:
    query = f"info_hash={quote_from_bytes(IH)}&peer_id=-XX0001-{peer:012d}&port={6000 + peer}"
    return "/announce?" + "&".join([query, *(f"{k}={v}" for k, v in extra.items())])


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def tracker(clock: Clock) -> AsyncIterator[TrackerServer]:
    config = TrackerConfig(limits=TrackerLimits(interval=1800, min_interval=60))
    server = TrackerServer("127.0.0.1", 0, config, clock=clock)
    await server.start()
    yield server
    await server.stop()


def example_steps() -> list[tuple[str, str, bytes | None]]:
    """(source address, path, answer or None) from the doc's `example` block."""
    text = DOC.read_text()
    block = text.split("```example\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, str, bytes | None]] = []
    for line in block.splitlines():
        if line.startswith("> "):
            source, path = line[2:].split(" ", 1)
            steps.append((source, path, None))
        elif line.startswith("< "):
            source, path, _ = steps[-1]
            steps[-1] = (source, path, ast.literal_eval("b'" + line[2:] + "'"))
    return steps


async def test_the_documented_example_byte_for_byte(tracker: TrackerServer, clock: Clock) -> None:
    steps = example_steps()
    assert len(steps) == 10 and sum(answer is not None for *_, answer in steps) == 9
    for source, path, answer in steps:
        status, body = await get(tracker.base_url + path, source)
        assert status == 200
        if answer is not None:
            assert body == answer, f"{source} {path}"
        clock.now += 5


async def test_compact_zero_lists_dictionaries_with_and_without_peer_ids(
    tracker: TrackerServer,
) -> None:
    await get(tracker.base_url + announce_path(1, left=0), "127.0.0.2")
    _, body = await get(tracker.base_url + announce_path(2, compact=0), "127.0.0.3")
    answer = lt.bdecode(body)
    assert answer[b"peers"] == [
        {b"ip": b"127.0.0.2", b"peer id": b"-XX0001-000000000001", b"port": 6001}
    ]
    _, body = await get(tracker.base_url + announce_path(2, compact=0, no_peer_id=1), "127.0.0.3")
    assert lt.bdecode(body)[b"peers"] == [{b"ip": b"127.0.0.2", b"port": 6001}]


async def test_ipv6_peers_are_listed_in_peers6() -> None:
    server = TrackerServer("::1", 0)
    await server.start()
    try:
        assert server.announce_url.startswith("http://[::1]:")
        await get(server.base_url + announce_path(1, left=0), "::1")
        status, body = await get(server.base_url + announce_path(2), "::1")
        answer = lt.bdecode(body)
        assert status == 200 and answer[b"peers"] == b""
        assert answer[b"peers6"] == ipaddress.IPv6Address("::1").packed + (6001).to_bytes(2)
        async with TrackerClient() as client:
            reply = await client.announce(
                server.announce_url,
                Announce(info_hash=IH, peer_id=b"-XX0001-000000000003", port=6003, left=1),
            )
        assert sorted(reply.peers) == [("::1", 6001), ("::1", 6002)]
    finally:
        await server.stop()


async def test_bad_requests_get_a_failure_reason_and_change_nothing(
    tracker: TrackerServer,
) -> None:
    bad = [
        ("/announce?peer_id=x", b"missing info_hash"),
        (announce_path(1, port=0).replace("port=6001&port=0", "port=0"), b"invalid port"),
        (announce_path(1, event="begun"), b"invalid event"),
        (announce_path(1, bidannounce="1.5"), b"invalid bidannounce"),
        ("/scrape", b"full scrape is not served"),
    ]
    for path, reason in bad:
        status, body = await get(tracker.base_url + path)
        answer = lt.bdecode(body)
        assert status == 200 and answer[b"failure reason"].startswith(reason), (path, answer)
    assert tracker.swarms.peer_count == 0
    status, _ = await get(tracker.base_url + "/nothing-here")
    assert status == 404


async def test_requests_beyond_the_rate_are_refused_with_retry_in() -> None:
    server = TrackerServer("127.0.0.1", 0, TrackerConfig(rate=RateLimit(per_second=0.01, burst=3)))
    await server.start()
    try:
        answers = [
            lt.bdecode((await get(server.base_url + announce_path(1), "127.0.0.7"))[1])
            for _ in range(4)
        ]
        assert all(b"failure reason" not in a for a in answers[:3])
        assert answers[3] == {
            b"failure reason": b"too many requests from your address",
            b"retry in": 1,
        }
        # Another address is not affected.
        _, body = await get(server.base_url + announce_path(2), "127.0.0.8")
        assert b"failure reason" not in lt.bdecode(body)
    finally:
        await server.stop()


async def test_per_address_peer_limit_over_http() -> None:
    limits = TrackerLimits(max_peers_per_address=2)
    server = TrackerServer("127.0.0.1", 0, TrackerConfig(limits=limits))
    await server.start()
    try:
        for peer in (1, 2):
            assert b"failure reason" not in lt.bdecode(
                (await get(server.base_url + announce_path(peer), "127.0.0.9"))[1]
            )
        answer = lt.bdecode((await get(server.base_url + announce_path(3), "127.0.0.9"))[1])
        assert answer == {
            b"failure reason": b"too many peers from your address (at most 2)",
            b"retry in": 5,
        }
        assert server.swarms.peer_count == 2
    finally:
        await server.stop()


async def test_sdk_client_announces_bids_and_reads_bidpeers_and_bidscrape(
    tracker: TrackerServer, clock: Clock
) -> None:
    seller = TrackerClient(local_ip="127.0.0.2")
    buyer = TrackerClient(local_ip="127.0.0.3")
    try:
        base = Announce(info_hash=IH, peer_id=b"-XX0001-000000000001", port=6881, left=0)
        await seller.announce(tracker.announce_url, replace(base, payee_port=50051))
        clock.now += 3
        reply = await buyer.announce(
            tracker.announce_url,
            Announce(info_hash=IH, peer_id=b"-XX0001-000000000002", port=6882, left=10, bid=777),
        )
        assert reply.interval == 1800 and reply.peers == [("127.0.0.2", 6881)]
        assert reply.bid_peers == [BidPeer("127.0.0.2", 6881, bid=0, age=0, payee_port=50051)]
        assert reply.bid_peers[0].payee == "127.0.0.2:50051"
        clock.now += 4
        reply = await seller.announce(
            tracker.announce_url, replace(base, bid_order=True, bid_min=500)
        )
        assert reply.bid_peers == [BidPeer("127.0.0.3", 6882, bid=777, age=4, payee_port=0)]
        bids = await buyer.bidscrape(tracker.announce_url)
        assert [(b.info_hash, b.highest, b.count, b.age) for b in bids] == [(IH.hex(), 777, 1, 4)]
        assert await buyer.bidscrape(tracker.announce_url, [b"\x09" * 20]) == []
    finally:
        await seller.close()
        await buyer.close()


async def test_sdk_client_reports_refusals_and_unreachable_trackers(tracker: TrackerServer) -> None:
    async with TrackerClient() as client:
        with pytest.raises(TrackerError, match="tracker refused: too many info_hash values"):
            await client.bidscrape(tracker.announce_url, [bytes([i]) * 20 for i in range(65)])
    async with TrackerClient(timeout=2) as client:
        with pytest.raises(TrackerError, match="cannot reach the tracker"):
            await client.announce(
                "http://127.0.0.1:9/announce",
                Announce(info_hash=IH, peer_id=b"x" * 20, port=1, left=0),
            )
