"""The payer's bid decisions (pure): no bid below a reserve, never a rate above the bid, and a
live autobid that only rises while data comes for free."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.market import (
    Autobidder,
    InfoHash,
    RebidPolicy,
    SpendingRate,
    TorrentNeed,
)
from client_sdk.torrent.paid.bidding import (
    BidState,
    FreeReason,
    acceptable_rate,
    btt_text,
    may_bid,
    payee_reason,
    worth_retrying,
)

IH = InfoHash(b"\x01" * 20)
PIECE = 256 * 1024


def test_a_bid_below_the_reserve_is_not_sent_and_says_why() -> None:
    assert may_bid(1_000, 2_000) is FreeReason.BELOW_RESERVE
    assert may_bid(2_000, 2_000) is None
    assert may_bid(0, None) is FreeReason.NO_BID
    assert may_bid(5, None) is None  # a payee without a market: no reserve to clear
    note = BidState(1_000, 2_000, FreeReason.BELOW_RESERVE).note()
    assert note == "reserve 0.002 BTT/piece above your bid 0.001 BTT: free peer"


def test_payee_reasons_map_to_free_reasons() -> None:
    assert payee_reason("BELOW_RESERVE") is FreeReason.BELOW_RESERVE
    assert payee_reason("OUTBID") is FreeReason.OUTBID
    assert payee_reason("NO_BID") is FreeReason.NO_BID
    assert payee_reason("BID_TOO_LOW") is FreeReason.OUTBID  # a payee without an auction


def test_btt_text_is_exact() -> None:
    assert btt_text(2_000) == "0.002 BTT"
    assert btt_text(1_500_000) == "1.5 BTT"
    assert btt_text(12_000_000) == "12 BTT"


@given(rate=st.integers(-10, 10**9), bid=st.integers(0, 10**9))
def test_a_charged_rate_never_exceeds_the_bid(rate: int, bid: int) -> None:
    if acceptable_rate(rate, bid):
        assert 0 < rate <= bid


@given(
    bid=st.integers(0, 10**7),
    reserve=st.one_of(st.none(), st.integers(0, 10**7)),
    bid_now=st.integers(0, 10**7),
    reserve_now=st.one_of(st.none(), st.integers(0, 10**7)),
)
def test_a_retry_only_sends_what_clears_the_reserve(
    bid: int, reserve: int | None, bid_now: int, reserve_now: int | None
) -> None:
    why = may_bid(bid, reserve)
    state = BidState(bid, reserve, why)
    if worth_retrying(state, bid_now, reserve_now):
        assert may_bid(bid_now, reserve_now) is None


@settings(max_examples=200, deadline=None)
@given(
    budget=st.integers(1_000_000, 10**9),
    total_pieces=st.integers(2, 2_000),
    steps=st.lists(st.tuples(st.integers(0, 50), st.floats(0, 120)), min_size=1, max_size=40),
)
def test_free_data_only_ever_raises_the_autobid_and_the_policy_throttles_it(
    budget: int, total_pieces: int, steps: list[tuple[int, float]]
) -> None:
    """Nothing spent, pieces arriving for free: every bid sent is above the last, none is
    above the balance, and two bids are never closer than the policy's interval."""
    now = [0.0]
    policy = RebidPolicy(min_interval_s=60.0, min_change_ppm=100_000)
    bidder = Autobidder(
        budget=budget, spending_rate=SpendingRate(1), policy=policy, clock=lambda: now[0]
    )
    remaining = total_pieces * PIECE
    (first,) = bidder.poll([TorrentNeed(IH, PIECE, remaining)])
    sent: list[tuple[float, int]] = [(0.0, first.rate_per_piece_units or 0)]
    for pieces, seconds in steps:
        remaining = max(PIECE, remaining - pieces * PIECE)
        now[0] += seconds
        for u in bidder.poll([TorrentNeed(IH, PIECE, remaining)]):
            assert u.rate_per_piece_units is not None
            sent.append((now[0], u.rate_per_piece_units))
    assert sent[0][1] == budget // total_pieces
    for (t0, b0), (t1, b1) in itertools.pairwise(sent):
        assert b1 > b0 and (b1 - b0) * 10 > b0, "a re-bid moved by more than 10 %"
        assert t1 - t0 >= policy.min_interval_s
    assert all(b <= budget for _, b in sent)


def test_a_budget_change_rebids_at_once_whatever_the_interval() -> None:
    now = [0.0]
    bidder = Autobidder(budget=1_000_000, spending_rate=SpendingRate(1), clock=lambda: now[0])
    need = [TorrentNeed(IH, PIECE, 100 * PIECE)]
    (first,) = bidder.poll(need)
    now[0] += 1
    assert bidder.poll(need) == ()
    bidder.set_budget(2_000_000)
    (again,) = bidder.poll(need)
    assert again.reason.value == "USER_CHANGE" and again.rate_per_piece_units == 20_000
    assert first.rate_per_piece_units == 10_000
