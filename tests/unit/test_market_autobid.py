from __future__ import annotations

import pytest

from client_sdk.torrent.market import (
    Autobidder,
    InfoHash,
    RebidPolicy,
    RebidReason,
    SpendingRate,
    TorrentNeed,
    autobid_per_piece,
)
from client_sdk.torrent.market.autobid import moved_enough

PIECE = 256 * 1024
MIB = 1024 * 1024
A = InfoHash(b"\x0a" * 20)
B = InfoHash(b"\x0b" * 20)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "balance", "remaining", "piece", "want"),
    [
        # 100% of 100 BTT over 100 MiB: 1 BTT per MiB = 250,000 units per 256 KiB piece.
        (SpendingRate.percent(100), 100_000_000, 100 * MIB, PIECE, 250_000),
        (SpendingRate.percent(50), 100_000_000, 100 * MIB, PIECE, 125_000),
        (SpendingRate.ppm(1), 100_000_000, 100 * MIB, PIECE, 0),  # 0.25 rounds down
        (SpendingRate(1, 3), 10, 3 * PIECE, PIECE, 1),  # 10/9 = 1.11 rounds down
        (SpendingRate.percent(100), 0, MIB, PIECE, 0),
        # Less than a piece left: never bid more than the balance.
        (SpendingRate.percent(200), 1000, 1, PIECE, 1000),
    ],
)
def test_autobid_value(
    rate: SpendingRate, balance: int, remaining: int, piece: int, want: int
) -> None:
    assert autobid_per_piece(rate, balance, remaining, piece) == want


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        SpendingRate(-1)
    with pytest.raises(ValueError):
        SpendingRate(1, 0)
    with pytest.raises(ValueError):
        autobid_per_piece(SpendingRate(1), 10, 0, PIECE)


@pytest.mark.parametrize(
    ("old", "new", "moved"),
    [(100, 110, False), (100, 111, True), (100, 90, False), (100, 89, True), (0, 1, True)],
)
def test_moved_more_than_ten_percent(old: int, new: int, moved: bool) -> None:
    assert moved_enough(old, new, 100_000) is moved


def bidder(clock: FakeClock, budget: int = 100_000_000) -> Autobidder:
    return Autobidder(
        budget=budget,
        spending_rate=SpendingRate.percent(100),
        policy=RebidPolicy(min_interval_s=60, min_change_ppm=100_000),
        clock=clock,
    )


def test_first_bid_then_throttled_by_time_and_change() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    [first] = ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    assert (first.rate_per_piece_units, first.reason, first.at) == (
        250_000,
        RebidReason.FIRST,
        1000.0,
    )
    # Half downloaded for free: the bid doubles, but not within the minute.
    clock.now += 59
    assert ab.poll([TorrentNeed(A, PIECE, 50 * MIB)]) == ()
    clock.now += 1
    [moved] = ab.poll([TorrentNeed(A, PIECE, 50 * MIB)])
    assert (moved.rate_per_piece_units, moved.reason) == (500_000, RebidReason.MOVED)
    # A 5% move after the minute is not worth a new bid.
    clock.now += 600
    assert ab.poll([TorrentNeed(A, PIECE, 48 * MIB)]) == ()
    assert ab.current_bid(A) == 500_000


def test_budget_change_rebids_at_once() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    clock.now += 1
    ab.set_budget(101_000_000)  # 1% more, one second later: still sent
    [update] = ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    assert (update.rate_per_piece_units, update.reason) == (252_500, RebidReason.USER_CHANGE)
    assert ab.poll([TorrentNeed(A, PIECE, 100 * MIB)]) == ()  # the change is consumed


def test_spending_rate_change_rebids_at_once() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    ab.set_spending_rate(SpendingRate.percent(10))
    [update] = ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    assert (update.rate_per_piece_units, update.reason) == (25_000, RebidReason.USER_CHANGE)


def test_spending_reduces_the_bid() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    ab.record_spent(60_000_000)
    assert ab.remaining_balance == 40_000_000
    clock.now += 60
    [update] = ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    assert update.rate_per_piece_units == 100_000


def test_budget_is_shared_across_torrents() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    updates = ab.poll([TorrentNeed(A, PIECE, 50 * MIB), TorrentNeed(B, 2 * PIECE, 50 * MIB)])
    assert {u.info_hash: u.rate_per_piece_units for u in updates} == {A: 250_000, B: 500_000}


def test_a_torrent_of_its_own_spending_rate_rebids_at_once() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    needs = [TorrentNeed(A, PIECE, 50 * MIB), TorrentNeed(B, PIECE, 50 * MIB)]
    ab.poll(needs)
    ab.set_torrent_spending_rate(B, SpendingRate.percent(20))
    updates = ab.poll(needs)  # a user change: no waiting for the re-bid interval
    assert {u.info_hash: u.rate_per_piece_units for u in updates} == {B: 50_000}
    assert ab.current_bid(A) == 250_000  # the balance is still spread over both torrents
    ab.set_torrent_spending_rate(B, None)
    assert {u.info_hash: u.rate_per_piece_units for u in ab.poll(needs)} == {B: 250_000}


def test_disabling_withdraws_and_reenabling_bids_again() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    needs = [TorrentNeed(A, PIECE, 50 * MIB), TorrentNeed(B, PIECE, 50 * MIB)]
    ab.poll(needs)
    ab.set_torrent_enabled(B, False)
    updates = ab.poll(needs)
    assert [(u.info_hash, u.rate_per_piece_units, u.reason) for u in updates] == [
        (B, None, RebidReason.DISABLED)
    ]
    assert ab.poll(needs) == ()
    clock.now += 60  # A now owns the whole budget: its bid doubles
    assert [(u.info_hash, u.rate_per_piece_units) for u in ab.poll(needs)] == [(A, 500_000)]
    ab.set_enabled(False)
    assert [(u.info_hash, u.rate_per_piece_units) for u in ab.poll(needs)] == [(A, None)]
    assert ab.poll(needs) == ()
    ab.set_enabled(True)
    ab.set_torrent_enabled(B, True)
    assert {u.reason for u in ab.poll(needs)} == {RebidReason.FIRST}


def test_complete_torrent_withdraws_its_bid() -> None:
    clock = FakeClock()
    ab = bidder(clock)
    ab.poll([TorrentNeed(A, PIECE, MIB)])
    [update] = ab.poll([TorrentNeed(A, PIECE, 0)])
    assert (update.rate_per_piece_units, update.reason) == (None, RebidReason.COMPLETE)
    assert ab.current_bid(A) is None
