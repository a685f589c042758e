"""The tracker's in-memory rules, with time passed in: selection, expiry, bounds and bids."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tracker.requests import AnnounceRequest, BidScrapeRequest, Event, Rejected, ScrapeRequest
from tracker.swarms import AnnounceResult, Counts, Swarms, TorrentBids, TrackerLimits

IH = b"\x01" * 20
IH2 = b"\x02" * 20


def ip(n: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(f"127.0.0.{n}")


def req(port: int, **kw: object) -> AnnounceRequest:
    base = AnnounceRequest(info_hash=IH, peer_id=b"P" * 18 + port.to_bytes(2), port=port, left=1)
    return replace(base, **kw)  # type: ignore[arg-type]


def ok(result: AnnounceResult | Rejected) -> AnnounceResult:
    assert isinstance(result, AnnounceResult), result
    return result


def ports(result: AnnounceResult | Rejected) -> list[int]:
    return [p.port for p in ok(result).peers]


def test_a_peer_never_gets_itself_and_sees_the_others() -> None:
    s = Swarms()
    assert ports(s.announce(req(1), ip(1), 0)) == []
    assert ports(s.announce(req(2), ip(2), 0)) == [1]
    assert sorted(ports(s.announce(req(3), ip(3), 0))) == [1, 2]
    assert s.peer_count == 3 and s.torrent_count == 1


def test_seeders_get_only_leechers() -> None:
    s = Swarms()
    s.announce(req(1, left=0), ip(1), 0)
    s.announce(req(2, left=5), ip(2), 0)
    assert ports(s.announce(req(3, left=0), ip(3), 0)) == [2]
    assert sorted(ports(s.announce(req(4, left=5), ip(4), 0))) == [1, 2, 3]
    assert ok(s.announce(req(4, left=5), ip(4), 0)).counts == Counts(2, 2, 0)


def test_numwant_defaults_and_is_capped() -> None:
    s = Swarms(TrackerLimits(numwant=3, max_numwant=5), rng=random.Random(1))
    for port in range(1, 11):
        s.announce(req(port), ip(port), 0)
    assert len(ports(s.announce(req(1), ip(1), 0))) == 3
    assert len(ports(s.announce(req(1, numwant=100), ip(1), 0))) == 5
    assert ports(s.announce(req(1, numwant=0), ip(1), 0)) == []


def test_same_address_other_port_is_another_peer_same_port_is_the_same() -> None:
    s = Swarms()
    s.announce(req(1), ip(1), 0)
    s.announce(req(1, peer_id=b"Q" * 20), ip(1), 0)  # a restart with a new peer id
    assert s.peer_count == 1
    s.announce(req(2), ip(1), 0)
    assert s.peer_count == 2


def test_completed_counts_once_and_scrape_reports_it() -> None:
    s = Swarms()
    s.announce(req(1, event=Event.STARTED, left=9), ip(1), 0)
    s.announce(req(1, event=Event.COMPLETED, left=0), ip(1), 1)
    s.announce(req(1, event=Event.COMPLETED, left=0), ip(1), 2)  # a repeat changes nothing
    s.announce(req(2, left=9), ip(2), 2)
    got = s.scrape(ScrapeRequest((IH, IH2)), 3)
    assert got == {IH: Counts(complete=1, incomplete=1, downloaded=1), IH2: Counts(0, 0, 0)}


def test_stopped_removes_at_once_and_empty_torrents_go() -> None:
    s = Swarms()
    s.announce(req(1), ip(1), 0)
    result = ok(s.announce(req(1, event=Event.STOPPED), ip(1), 1))
    assert result.peers == [] and result.counts == Counts(0, 0, 0)
    assert s.peer_count == 0 and s.torrent_count == 0
    # Stopping an unknown peer is harmless.
    assert ok(s.announce(req(7, event=Event.STOPPED), ip(7), 1)).peers == []


def test_peers_expire_after_the_timeout_and_not_before() -> None:
    s = Swarms(TrackerLimits(interval=100, min_interval=10))  # timeout 150
    s.announce(req(1), ip(1), 0)
    s.announce(req(2), ip(2), 100)
    assert s.expire(150) == 0
    assert s.expire(150.5) == 1
    assert s.peer_count == 1
    assert s.expire(251) == 1
    assert s.torrent_count == 0


def test_reannounce_keeps_a_peer_alive_and_expiry_is_lazy_too() -> None:
    s = Swarms(TrackerLimits(interval=100, min_interval=10, peer_timeout=120))
    s.announce(req(1), ip(1), 0)
    s.announce(req(2), ip(2), 0)
    s.announce(req(1), ip(1), 100)  # peer 1 re-announces
    # Without any sweep, peer 2 is gone from an answer after its timeout.
    assert ports(s.announce(req(3), ip(3), 121)) == [1]
    assert s.peer_count == 2


def test_bids_order_filter_and_bidpeers_data() -> None:
    s = Swarms(rng=random.Random(3))
    s.announce(req(1, bid=1500), ip(1), 0)
    s.announce(req(2, bid=2500), ip(2), 1)
    s.announce(req(3, bid=1500), ip(3), 2)  # same bid, announced later: first among equals
    s.announce(req(4), ip(4), 3)
    s.announce(req(5, left=0, payee_port=50051), ip(5), 3)
    seller = req(5, left=0, bid_order=True)
    assert ports(s.announce(seller, ip(5), 4)) == [2, 3, 1, 4]
    assert ports(s.announce(replace(seller, bid_min=2000), ip(5), 4)) == [2]
    assert sorted(ports(s.announce(replace(seller, bid_order=False, bid_min=1000), ip(5), 4))) == [
        1,
        2,
        3,
    ]
    listed = {p.port: p for p in ok(s.announce(req(4), ip(4), 10)).peers}
    assert (listed[2].bid, listed[2].bid_age, listed[2].payee_port) == (2500, 9, 0)
    assert (listed[5].bid, listed[5].bid_age, listed[5].payee_port) == (0, 0, 50051)
    assert (listed[1].bid, listed[1].bid_age) == (1500, 10)


def test_a_bid_stays_through_plain_announces_until_withdrawn_or_stale() -> None:
    s = Swarms(TrackerLimits(interval=100, min_interval=10))  # bids live 150 s
    s.announce(req(1, bid=700), ip(1), 0)
    s.announce(req(1), ip(1), 50)  # the BitTorrent engine's own announce: no bid parameter
    assert s.bidscrape(BidScrapeRequest((IH,)), 60) == {IH: TorrentBids(700, 1, 60)}
    s.announce(req(1), ip(1), 140)
    # The peer is alive, but its bid was last announced 151 s ago.
    assert s.bidscrape(BidScrapeRequest((IH,)), 151) == {}
    s.announce(req(1, bid=800), ip(1), 160)
    s.announce(req(1, bid=0), ip(1), 161)
    assert s.bidscrape(BidScrapeRequest(()), 162) == {}
    assert s.peer_count == 1


def test_bidscrape_named_and_top_torrents() -> None:
    s = Swarms()
    s.announce(req(1, bid=10), ip(1), 0)
    s.announce(req(2, bid=30), ip(2), 5)
    s.announce(req(1, info_hash=IH2, bid=20), ip(1), 8)
    s.announce(req(9, info_hash=b"\x03" * 20), ip(9), 8)  # no bids: never listed
    assert s.bidscrape(BidScrapeRequest(()), 10) == {
        IH: TorrentBids(highest=30, count=2, age=5),
        IH2: TorrentBids(highest=20, count=1, age=2),
    }
    assert s.bidscrape(BidScrapeRequest((), limit=1), 10) == {IH: TorrentBids(30, 2, 5)}
    assert s.bidscrape(BidScrapeRequest((IH2, b"\x03" * 20)), 10) == {IH2: TorrentBids(20, 1, 2)}


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (TrackerLimits(max_torrents=1), "tracker is full: no room for another torrent"),
        (TrackerLimits(max_peers=2), "tracker is full: no room for another peer"),
        (
            TrackerLimits(max_peers_per_address=2),
            "too many peers from your address (at most 2)",
        ),
    ],
)
def test_bounds_refuse_and_change_nothing(limits: TrackerLimits, reason: str) -> None:
    s = Swarms(limits)
    ok(s.announce(req(1), ip(1), 0))
    ok(s.announce(req(2), ip(1), 0))
    before = (s.peer_count, s.torrent_count)
    assert s.announce(req(3, info_hash=IH2), ip(1), 0) == Rejected(reason)
    assert (s.peer_count, s.torrent_count) == before
    # Peers already known may still announce.
    ok(s.announce(req(1), ip(1), 1))


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        TrackerLimits(interval=0)
    with pytest.raises(ValueError):
        TrackerLimits(interval=100, peer_timeout=50)
    with pytest.raises(ValueError):
        TrackerLimits(numwant=300, max_numwant=200)


class SwarmsMachine(RuleBasedStateMachine):
    """Random announces, stops and sweeps: the counters always match the peers held, and the
    bounds always hold."""

    def __init__(self) -> None:
        super().__init__()
        self.limits = TrackerLimits(
            interval=10, min_interval=1, max_torrents=3, max_peers=12, max_peers_per_address=5
        )
        self.swarms = Swarms(self.limits, rng=random.Random(0))
        self.now = 0.0
        self.model: dict[tuple[bytes, int, int], tuple[float, bool]] = {}  # (ih, ip, port)

    @rule(
        t=st.integers(0, 4),
        host=st.integers(1, 4),
        port=st.integers(1, 3),
        left=st.sampled_from([0, 1]),
        bid=st.one_of(st.none(), st.integers(0, 50)),
        event=st.sampled_from(list(Event)),
    )
    def announce(
        self, t: int, host: int, port: int, left: int, bid: int | None, event: Event
    ) -> None:
        ih = bytes([t]) * 20
        r = req(port, info_hash=ih, left=left, bid=bid, event=event, bid_order=True)
        result = self.swarms.announce(r, ip(host), self.now)
        self._expire_model()
        key = (ih, host, port)
        if event is Event.STOPPED:
            self.model.pop(key, None)
            return
        if isinstance(result, Rejected):
            assert key not in self.model
            return
        self.model[key] = (self.now, left == 0)
        assert all(p.port != port or p.ip != ip(host) for p in result.peers)
        bids = [p.bid for p in result.peers if p.bid]
        assert bids == sorted(bids, reverse=True)

    @rule(dt=st.floats(0, 20))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def sweep(self) -> None:
        self.swarms.expire(self.now)
        self._expire_model()
        assert self.swarms.peer_count == len(self.model)

    def _expire_model(self) -> None:
        cutoff = self.now - self.limits.timeout
        self.model = {k: v for k, v in self.model.items() if v[0] >= cutoff}

    @invariant()
    def bounded(self) -> None:
        assert self.swarms.peer_count <= self.limits.max_peers
        assert self.swarms.torrent_count <= self.limits.max_torrents
        per_host: dict[int, int] = {}
        for _ih, host, _port in self.model:
            per_host[host] = per_host.get(host, 0) + 1
        assert all(n <= self.limits.max_peers_per_address for n in per_host.values())

    @invariant()
    def counts_match(self) -> None:
        got = self.swarms.scrape(ScrapeRequest(tuple(bytes([t]) * 20 for t in range(5))), self.now)
        self._expire_model()  # scrape dropped the expired peers too
        for ih, counts in got.items():
            mine = [v for k, v in self.model.items() if k[0] == ih]
            seeds = sum(1 for _, seeding in mine if seeding)
            assert (counts.complete, counts.incomplete) == (seeds, len(mine) - seeds)


TestSwarmsMachine = SwarmsMachine.TestCase
TestSwarmsMachine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
