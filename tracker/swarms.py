"""The tracker's state, in memory like opentracker: peers per torrent, with their bids.

Every method takes `now` (seconds, monotonic), so the rules are tested without waiting. Memory
is bounded by `TrackerLimits`: a new torrent, a new peer or one peer too many from one address is
refused (`Rejected`), never evicting what is there. A peer expires `peer_timeout` seconds after
its last announce, and a bid `peer_timeout` after it was last announced: clients re-announce on
their own, so the lists only hold peers that are still around.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass

from tracker.requests import AnnounceRequest, BidScrapeRequest, Event, Rejected, ScrapeRequest

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TrackerLimits:
    interval: int = 1800
    """Seconds clients should wait between announces (`interval`)."""
    min_interval: int = 60
    """`min interval`: clients should not announce more often than this."""
    peer_timeout: int | None = None
    """Seconds after its last announce a peer (or bid) is forgotten [1.5 x interval]."""
    numwant: int = 50
    max_numwant: int = 200
    max_torrents: int = 100_000
    max_peers: int = 1_000_000
    max_peers_per_address: int = 2_000
    """Peers (endpoint, torrent) one IP address may hold, across all torrents."""
    max_scrape_hashes: int = 64
    bidscrape_limit: int = 100
    max_bidscrape_limit: int = 1_000

    def __post_init__(self) -> None:
        if self.interval <= 0 or not 0 <= self.min_interval <= self.interval:
            raise ValueError("need interval > 0 and 0 <= min_interval <= interval")
        if self.peer_timeout is not None and self.peer_timeout < self.interval:
            raise ValueError("peer_timeout must be at least the interval")
        sizes = (self.numwant, self.max_numwant, self.max_torrents, self.max_peers)
        if min(sizes) < 0 or self.numwant > self.max_numwant:
            raise ValueError("sizes must be >= 0 and numwant <= max_numwant")
        if self.max_peers_per_address < 1 or self.max_scrape_hashes < 1:
            raise ValueError("per-address and per-scrape limits must be >= 1")
        if not 0 < self.bidscrape_limit <= self.max_bidscrape_limit:
            raise ValueError("need 0 < bidscrape_limit <= max_bidscrape_limit")

    @property
    def timeout(self) -> int:
        return self.peer_timeout if self.peer_timeout is not None else self.interval * 3 // 2


@dataclass(slots=True)
class _Peer:
    ip: bytes
    """Packed address: 4 bytes (IPv4) or 16 (IPv6)."""
    port: int
    peer_id: bytes
    seeding: bool
    seen: float
    bid: int = 0
    bid_at: float = 0.0
    payee_port: int = 0


class _Swarm:
    __slots__ = ("bidders", "completed", "peers", "seeders")

    def __init__(self) -> None:
        self.peers: dict[bytes, _Peer] = {}
        """Keyed by compact endpoint (packed ip + port), least recently announced first."""
        self.bidders: dict[bytes, _Peer] = {}
        """The peers with a bid > 0 (maybe stale: check `bid_at`)."""
        self.seeders = 0
        self.completed = 0


@dataclass(frozen=True, slots=True)
class ListedPeer:
    """A peer as an answer lists it: a copy, so later announces cannot change an answer."""

    ip: IpAddress
    port: int
    peer_id: bytes
    bid: int
    bid_age: int
    """Whole seconds since the bid was announced (0 without a bid)."""
    payee_port: int


@dataclass(frozen=True, slots=True)
class Counts:
    complete: int
    incomplete: int
    downloaded: int


@dataclass(frozen=True, slots=True)
class AnnounceResult:
    peers: list[ListedPeer]
    counts: Counts
    interval: int
    min_interval: int


@dataclass(frozen=True, slots=True)
class TorrentBids:
    """`bidscrape` for one torrent: its live bids."""

    highest: int
    count: int
    age: int
    """Whole seconds since the highest bid was announced."""


class Swarms:
    """Torrents and their peers. Not thread-safe: the server calls it from one event loop."""

    def __init__(self, limits: TrackerLimits | None = None, *, rng: random.Random | None = None):
        self.limits = limits or TrackerLimits()
        self._rng = rng or random.Random()
        self._swarms: dict[bytes, _Swarm] = {}
        self._per_address: dict[bytes, int] = {}
        self._peer_count = 0

    @property
    def torrent_count(self) -> int:
        return len(self._swarms)

    @property
    def peer_count(self) -> int:
        return self._peer_count

    def announce(
        self, req: AnnounceRequest, address: IpAddress, now: float
    ) -> AnnounceResult | Rejected:
        ip = address.packed
        key = ip + req.port.to_bytes(2, "big")
        swarm = self._fresh(req.info_hash, now)
        if req.event is Event.STOPPED:
            if swarm is not None and key in swarm.peers:
                self._remove(req.info_hash, swarm, key)
            return self._result([], self._swarms.get(req.info_hash))
        peer = swarm.peers.pop(key, None) if swarm is not None else None
        if peer is None:
            refused = self._room_for(swarm, ip)
            if refused is not None:
                return refused
            if swarm is None:
                swarm = self._swarms[req.info_hash] = _Swarm()
            peer = _Peer(ip, req.port, req.peer_id, seeding=False, seen=now)
            self._per_address[ip] = self._per_address.get(ip, 0) + 1
            self._peer_count += 1
        assert swarm is not None
        swarm.peers[key] = peer  # (re)inserted last: the dict stays in announce order
        self._update(swarm, key, peer, req, now)
        return self._result(self._select(swarm, key, req, now), swarm)

    def scrape(self, req: ScrapeRequest, now: float) -> dict[bytes, Counts]:
        out = {}
        for ih in req.info_hashes:
            swarm = self._fresh(ih, now)
            out[ih] = _counts(swarm) if swarm is not None else Counts(0, 0, 0)
        return out

    def bidscrape(self, req: BidScrapeRequest, now: float) -> dict[bytes, TorrentBids]:
        """The named torrents with live bids, or else the `limit` with the highest bids."""
        if req.info_hashes:
            named = ((ih, self._fresh(ih, now)) for ih in req.info_hashes)
            found = {ih: self._torrent_bids(s, now) for ih, s in named if s is not None}
            return {ih: bids for ih, bids in found.items() if bids is not None}
        limit = min(req.limit or self.limits.bidscrape_limit, self.limits.max_bidscrape_limit)
        every = ((ih, self._torrent_bids(s, now)) for ih, s in self._bidding())
        live = ((ih, b) for ih, b in every if b is not None)
        top = heapq.nlargest(limit, live, key=lambda item: (item[1].highest, -item[1].age))
        return dict(top)

    def expire(self, now: float) -> int:
        """Forget peers and bids not announced for `peer_timeout`; returns peers removed."""
        before = self._peer_count
        for ih in list(self._swarms):
            self._fresh(ih, now)
        return before - self._peer_count

    # ------------------------------------------------------------ internals

    def _fresh(self, info_hash: bytes, now: float) -> _Swarm | None:
        """The torrent's swarm with expired peers and bids dropped (None once empty)."""
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return None
        cutoff = now - self.limits.timeout
        while swarm.peers:
            key, oldest = next(iter(swarm.peers.items()))
            if oldest.seen >= cutoff:
                break
            self._remove(info_hash, swarm, key)
        for key in [k for k, p in swarm.bidders.items() if p.bid_at < cutoff]:
            swarm.bidders.pop(key).bid = 0
        return self._swarms.get(info_hash)

    def _room_for(self, swarm: _Swarm | None, ip: bytes) -> Rejected | None:
        if swarm is None and len(self._swarms) >= self.limits.max_torrents:
            return Rejected("tracker is full: no room for another torrent")
        if self._peer_count >= self.limits.max_peers:
            return Rejected("tracker is full: no room for another peer")
        if self._per_address.get(ip, 0) >= self.limits.max_peers_per_address:
            return Rejected(
                f"too many peers from your address (at most {self.limits.max_peers_per_address})"
            )
        return None

    def _update(
        self, swarm: _Swarm, key: bytes, peer: _Peer, req: AnnounceRequest, now: float
    ) -> None:
        peer.peer_id = req.peer_id
        peer.seen = now
        if req.event is Event.COMPLETED and not peer.seeding:
            swarm.completed += 1
        if req.seeding != peer.seeding:
            swarm.seeders += 1 if req.seeding else -1
            peer.seeding = req.seeding
        if req.bid is not None:
            peer.bid, peer.bid_at = req.bid, now
            if req.bid:
                swarm.bidders[key] = peer
            else:
                swarm.bidders.pop(key, None)
        if req.payee_port is not None:
            peer.payee_port = req.payee_port

    def _remove(self, info_hash: bytes, swarm: _Swarm, key: bytes) -> None:
        peer = swarm.peers.pop(key)
        swarm.bidders.pop(key, None)
        if peer.seeding:
            swarm.seeders -= 1
        self._peer_count -= 1
        left = self._per_address[peer.ip] - 1
        if left:
            self._per_address[peer.ip] = left
        else:
            del self._per_address[peer.ip]
        if not swarm.peers:
            del self._swarms[info_hash]

    def _select(
        self, swarm: _Swarm, me: bytes, req: AnnounceRequest, now: float
    ) -> list[ListedPeer]:
        want = req.numwant if req.numwant is not None else self.limits.numwant
        want = min(want, self.limits.max_numwant)
        if want == 0:
            return []

        def useful(key: bytes, p: _Peer) -> bool:
            # Seeds have nothing to give each other.
            return key != me and not (req.seeding and p.seeding)

        chosen: list[_Peer] = []
        if req.bid_order or req.bid_min:
            bidders = [p for k, p in swarm.bidders.items() if p.bid >= req.bid_min and useful(k, p)]
            if req.bid_order:
                chosen = heapq.nlargest(want, bidders, key=lambda p: (p.bid, p.bid_at))
            else:
                chosen = self._sample(bidders, want)
            if req.bid_min:
                return [_listed(p, now) for p in chosen]
        taken = {id(p) for p in chosen}
        rest = self._sample(
            [p for k, p in swarm.peers.items() if id(p) not in taken and useful(k, p)],
            want - len(chosen),
        )
        return [_listed(p, now) for p in (*chosen, *rest)]

    def _sample(self, peers: list[_Peer], k: int) -> list[_Peer]:
        return peers if len(peers) <= k else self._rng.sample(peers, k)

    def _result(self, peers: list[ListedPeer], swarm: _Swarm | None) -> AnnounceResult:
        counts = _counts(swarm) if swarm is not None else Counts(0, 0, 0)
        return AnnounceResult(peers, counts, self.limits.interval, self.limits.min_interval)

    def _bidding(self) -> Iterator[tuple[bytes, _Swarm]]:
        return ((ih, s) for ih, s in self._swarms.items() if s.bidders)

    def _torrent_bids(self, swarm: _Swarm, now: float) -> TorrentBids | None:
        cutoff = now - self.limits.timeout
        live = [p for p in swarm.bidders.values() if p.bid_at >= cutoff]
        if not live:
            return None
        top = max(live, key=lambda p: (p.bid, p.bid_at))
        return TorrentBids(top.bid, len(live), int(now - top.bid_at))


def _counts(swarm: _Swarm) -> Counts:
    return Counts(swarm.seeders, len(swarm.peers) - swarm.seeders, swarm.completed)


def _listed(p: _Peer, now: float) -> ListedPeer:
    return ListedPeer(
        ip=ipaddress.ip_address(p.ip),
        port=p.port,
        peer_id=p.peer_id,
        bid=p.bid,
        bid_age=int(now - p.bid_at) if p.bid else 0,
        payee_port=p.payee_port,
    )
