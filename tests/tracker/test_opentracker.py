"""`btt tracker` beside opentracker, the tracker nobody here wrote that public swarms run: the
same announces from the same addresses get the same counts, peers and refusals from both."""

from __future__ import annotations

import http.client
import os
from typing import Any
from urllib.parse import quote_from_bytes, urlsplit

import libtorrent as lt
import pytest

from tests.tracker.conftest import TrackerProcess, next_ip, opentracker

pytestmark = pytest.mark.timeout(90)


def get(url: str, query: str, source_ip: str) -> dict[bytes, Any]:
    """GET `url?query` from `source_ip` (trackers list the address a request comes from)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=10, source_address=(source_ip, 0)
    )
    try:
        conn.request("GET", f"{parts.path}?{query}")
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    assert reply.status == 200, (url, reply.status, body)
    decoded = lt.bdecode(body)
    assert isinstance(decoded, dict), body
    return decoded


def announce_query(info_hash: bytes, port: int, left: int, event: str) -> str:
    peer_id = b"-XX0001-%012d" % port
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}"
        f"&port={port}&uploaded=0&downloaded=0&left={left}&compact=1"
    )
    return query + (f"&event={event}" if event else "")


def others(reply: dict[bytes, Any], me: tuple[str, int]) -> set[tuple[str, int]]:
    """The compact peer list without the asker (opentracker lists it, `btt tracker` does not)."""
    raw: bytes = reply[b"peers"]
    assert len(raw) % 6 == 0
    peers = {
        (".".join(str(b) for b in raw[i : i + 4]), int.from_bytes(raw[i + 4 : i + 6], "big"))
        for i in range(0, len(raw), 6)
    }
    return peers - {me}


COUNTS = (b"complete", b"incomplete", b"downloaded")


def test_btt_tracker_answers_as_opentracker_does(tracker_process: TrackerProcess) -> None:
    info_hash = os.urandom(20)
    ours_url = tracker_process.announce
    peers = [(next_ip(), 7100 + n) for n in range(4)]
    # (peer, left, event): leechers and a seeder arrive, one completes, one leaves, one comes
    # back quietly; every answer and the scrape after it must agree.
    steps = [
        (0, 5000, "started"),
        (1, 0, "started"),
        (2, 5000, "started"),
        (3, 5000, "started"),
        (0, 0, "completed"),
        (2, 5000, "stopped"),
        (3, 5000, ""),
    ]
    with opentracker([info_hash]) as theirs_url:
        for who, left, event in steps:
            ip, port = peers[who]
            query = announce_query(info_hash, port, left, event)
            ours, theirs = get(ours_url, query, ip), get(theirs_url, query, ip)
            assert b"failure reason" not in ours and b"failure reason" not in theirs
            step = (who, left, event)
            # opentracker leaves `downloaded` out of its answer to `stopped`; we always send it.
            assert set(COUNTS) <= ours.keys()
            assert {k: ours[k] for k in theirs.keys() & set(COUNTS)} == {
                k: theirs[k] for k in theirs.keys() & set(COUNTS)
            }, step
            assert ours[b"interval"] > 0 and theirs[b"interval"] > 0
            if event != "stopped" and left:
                # A leecher is told of every other peer by both.
                assert others(ours, (ip, port)) == others(theirs, (ip, port)), step
            scrape = f"info_hash={quote_from_bytes(info_hash)}"
            ours_scrape = get(ours_url.replace("/announce", "/scrape"), scrape, ip)
            theirs_scrape = get(theirs_url.replace("/announce", "/scrape"), scrape, ip)
            assert ours_scrape[b"files"] == theirs_scrape[b"files"], step
        assert get(ours_url.replace("/announce", "/scrape"), scrape, ip)[b"files"] == {
            info_hash: {b"complete": 2, b"downloaded": 1, b"incomplete": 1}
        }
        # A request without an info hash is refused by both with a `failure reason`.
        ip, port = peers[0]
        bare = f"peer_id={quote_from_bytes(b'-XX0001-000000000001')}&port={port}&left=0"
        assert b"failure reason" in get(ours_url, bare, ip)
        assert b"failure reason" in get(theirs_url, bare, ip)
        # The bid extensions are only extra parameters: opentracker accepts such an announce
        # (ignoring them), so clients that bid work with ordinary trackers too.
        bidding = announce_query(info_hash, peers[3][1], 5000, "") + "&bidannounce=700&payee=9"
        theirs = get(theirs_url, bidding + "&bidorder=1", peers[3][0])
        assert b"failure reason" not in theirs and theirs[b"incomplete"] == 1
        ours = get(ours_url, bidding + "&bidorder=1", peers[3][0])
        assert {k: ours[k] for k in COUNTS} == {k: theirs[k] for k in COUNTS}
