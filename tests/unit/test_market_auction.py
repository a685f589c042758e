from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.market import Contender, PeerAccount, choose_optimistic, run_auction


def c(peer: str, bid: int | None, data: int = 0, choked_since: float | None = None) -> Contender:
    return Contender(PeerAccount(peer), bid, data, choked_since)


def winners(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [w.peer for w in outcome.winners]


@pytest.mark.parametrize(
    ("name", "contenders", "slots", "reserve", "want_winners", "want_rate", "want_losers"),
    [
        ("lone bidder pays reserve", [c("a", 50)], 2, 7, ["a"], 7, []),
        ("lone bidder, zero reserve", [c("a", 50)], 1, 0, ["a"], 0, []),
        ("fewer bidders than slots", [c("a", 50), c("b", 30)], 3, 5, ["a", "b"], 5, []),
        (
            "highest losing bid sets price",
            [c("a", 50), c("b", 30), c("c", 20)],
            2,
            5,
            ["a", "b"],
            20,
            ["c"],
        ),
        (
            "reserve above losing bid",
            [c("a", 50), c("b", 30), c("c", 20)],
            2,
            25,
            ["a", "b"],
            25,
            [],
        ),
        (
            "ineligible loser does not set price",
            [c("a", 50), c("b", 30), c("c", 20)],
            2,
            21,
            ["a", "b"],
            21,
            [],
        ),
        ("reserve above every bid", [c("a", 50), c("b", 30)], 2, 51, [], None, []),
        ("reserve equal to bid is eligible", [c("a", 50)], 1, 50, ["a"], 50, []),
        ("non-bidders never win", [c("a", None), c("b", 1)], 2, 0, ["b"], 0, []),
        ("zero slots", [c("a", 50), c("b", 40)], 0, 0, [], None, ["a", "b"]),
        (
            "tie on bid: more data first",
            [c("a", 10, data=5), c("b", 10, data=9)],
            1,
            0,
            ["b"],
            10,
            ["a"],
        ),
        (
            "tie on bid and data: choked longest first",
            [c("a", 10, 5, choked_since=100.0), c("b", 10, 5, choked_since=50.0)],
            1,
            0,
            ["b"],
            10,
            ["a"],
        ),
        (
            "never unchoked counts as choked longest",
            [c("a", 10, 5, choked_since=1.0), c("b", 10, 5, choked_since=None)],
            1,
            0,
            ["b"],
            10,
            ["a"],
        ),
        ("full tie: peer key decides", [c("b", 10), c("a", 10)], 1, 0, ["a"], 10, ["b"]),
        ("bid beats data", [c("a", 11, data=0), c("b", 10, data=10**9)], 1, 0, ["a"], 10, ["b"]),
    ],
)
def test_auction_rules(
    name: str,
    contenders: list[Contender],
    slots: int,
    reserve: int,
    want_winners: list[str],
    want_rate: int | None,
    want_losers: list[str],
) -> None:
    outcome = run_auction(contenders, slots=slots, reserve=reserve)
    assert winners(outcome) == want_winners, name
    assert outcome.rate == want_rate, name
    assert all(w.rate == want_rate for w in outcome.winners), name
    assert list(outcome.losers) == want_losers, name


def test_ineligible_bidders_are_listed_apart() -> None:
    outcome = run_auction([c("a", 3), c("b", 9), c("c", None)], slots=4, reserve=5)
    assert outcome.ineligible == ("a",)
    assert winners(outcome) == ["b"]
    assert outcome.rate == 5


def test_negative_inputs_refused() -> None:
    with pytest.raises(ValueError):
        run_auction([], slots=-1, reserve=0)
    with pytest.raises(ValueError):
        run_auction([], slots=1, reserve=-1)


def test_optimistic_prefers_longest_choked_then_bid() -> None:
    candidates = [
        c("recent", 100, choked_since=90.0),
        c("old", None, choked_since=10.0),
        c("never-low", 1),
        c("never-high", 5),
        c("never-none", None),
    ]
    assert choose_optimistic(candidates, count=1) == ("never-high",)
    assert choose_optimistic(candidates, count=4) == (
        "never-high",
        "never-low",
        "never-none",
        "old",
    )


contender_lists = st.lists(
    st.builds(
        Contender,
        peer=st.text(alphabet="abcdefgh", min_size=1, max_size=3).map(PeerAccount),
        bid=st.one_of(st.none(), st.integers(0, 1000)),
        data_received=st.integers(0, 10),
        choked_since=st.one_of(st.none(), st.floats(0, 100)),
    ),
    max_size=12,
    unique_by=lambda x: x.peer,
)


@settings(max_examples=300, deadline=None)
@given(contenders=contender_lists, slots=st.integers(0, 6), reserve=st.integers(0, 1000))
def test_auction_properties(contenders: list[Contender], slots: int, reserve: int) -> None:
    outcome = run_auction(contenders, slots=slots, reserve=reserve)
    bids = {x.peer: x.bid for x in contenders}
    eligible_bids = {p: b for p, b in bids.items() if b is not None and b >= reserve}
    won = {w.peer for w in outcome.winners}
    eligible = {p for p, b in bids.items() if b is not None and b >= reserve}
    assert len(won) <= slots
    assert len(won) == min(slots, len(eligible))
    assert won <= eligible, "nobody ineligible wins"
    assert set(outcome.losers) == eligible - won
    assert set(outcome.ineligible) == {p for p, b in bids.items() if b is not None and b < reserve}
    if not won:
        assert outcome.rate is None
        return
    assert outcome.rate is not None
    assert {w.rate for w in outcome.winners} == {outcome.rate}, "uniform price"
    assert outcome.rate >= reserve
    for w in outcome.winners:
        assert w.bid == bids[w.peer]
        assert outcome.rate <= w.bid
        for loser in outcome.losers:
            assert w.bid >= eligible_bids[loser]
    losing = [eligible_bids[p] for p in outcome.losers]
    assert outcome.rate == max([reserve, *losing])
