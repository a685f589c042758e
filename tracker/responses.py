"""Results -> bencoded answers (libtorrent's bencoder sorts the keys as bencoding requires).

Peer lists: BEP 23 compact (`peers`: 6 bytes per IPv4 peer) with BEP 7 `peers6` (18 bytes per
IPv6 peer), or the BEP 3 list of dictionaries when the client asked for `compact=0`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import libtorrent as lt

from tracker.requests import AnnounceRequest
from tracker.swarms import AnnounceResult, Counts, ListedPeer, TorrentBids


def failure(reason: str, *, retry_in_minutes: int | None = None) -> bytes:
    body: dict[str, Any] = {"failure reason": reason.encode()}
    if retry_in_minutes is not None:
        body["retry in"] = retry_in_minutes  # BEP 31
    return lt.bencode(body)


def announce(result: AnnounceResult, req: AnnounceRequest) -> bytes:
    counts = result.counts
    body: dict[str, Any] = {
        "interval": result.interval,
        "min interval": result.min_interval,
        "complete": counts.complete,
        "incomplete": counts.incomplete,
        "downloaded": counts.downloaded,
    }
    if req.compact:
        v4 = [p for p in result.peers if isinstance(p.ip, ipaddress.IPv4Address)]
        v6 = [p for p in result.peers if isinstance(p.ip, ipaddress.IPv6Address)]
        body["peers"] = b"".join(_compact(p) for p in v4)
        if v6:
            body["peers6"] = b"".join(_compact(p) for p in v6)
    else:
        body["peers"] = [_peer_dict(p, with_id=not req.no_peer_id) for p in result.peers]
    if req.speaks_bids:
        body["bidpeers"] = [_bid_peer(p) for p in result.peers if p.bid or p.payee_port]
    return lt.bencode(body)


def scrape(files: dict[bytes, Counts], min_interval: int) -> bytes:
    body: dict[str, Any] = {
        "files": {
            ih: {"complete": c.complete, "downloaded": c.downloaded, "incomplete": c.incomplete}
            for ih, c in files.items()
        },
        "flags": {"min_request_interval": min_interval},
    }
    return lt.bencode(body)


def bidscrape(files: dict[bytes, TorrentBids]) -> bytes:
    body: dict[str, Any] = {
        "files": {
            ih: {"age": b.age, "count": b.count, "highest": b.highest} for ih, b in files.items()
        }
    }
    return lt.bencode(body)


def _compact(p: ListedPeer) -> bytes:
    return p.ip.packed + p.port.to_bytes(2, "big")


def _peer_dict(p: ListedPeer, *, with_id: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"ip": str(p.ip).encode(), "port": p.port}
    if with_id:
        entry["peer id"] = p.peer_id
    return entry


def _bid_peer(p: ListedPeer) -> dict[str, Any]:
    return {
        "ip": str(p.ip).encode(),
        "port": p.port,
        "bid": p.bid,
        "age": p.bid_age,
        "payee": p.payee_port,
    }
