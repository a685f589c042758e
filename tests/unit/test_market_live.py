"""The seller's market as the live flow drives it: a bid is auctioned at the reserve in force
when it arrives, not at the one of the last choke round."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.market import (
    Auctioneer,
    AuctioneerConfig,
    Bid,
    InfoHash,
    LinearGrowth,
    PeerAccount,
    PossessionChallenger,
    ReservePrice,
    RoundResult,
    SellerMarket,
    TorrentGeometry,
)
from client_sdk.torrent.paid.payers import Limits, PayerRoster

IH = InfoHash(b"\x05" * 20)


def market(now: float) -> SellerMarket:
    challenger = PossessionChallenger(
        TorrentGeometry(4 * 1024 * 1024, 256 * 1024), b"s" * 32, IH, lambda p, c: b"x", now=now
    )
    return SellerMarket(
        Auctioneer(IH, config=AuctioneerConfig(4, 1, 3)),
        ReservePrice(LinearGrowth(1_000, 1, 10**9), now, fixed=None),
        challenger,
    )


def test_a_bid_pays_the_reserve_grown_since_the_last_round() -> None:
    m = market(1_000.0)
    m.choke_round(1_000.0)  # reserve 0 in the auction
    outcome = m.on_bid(Bid(PeerAccount("payer"), IH, 100_000, 1_060.0), 1_060.0)
    assert isinstance(outcome, RoundResult)
    assert outcome.outcome.rate == 60_000  # not 0: the reserve grew for a minute


def test_a_bid_below_the_grown_reserve_is_ineligible() -> None:
    m = market(1_000.0)
    m.choke_round(1_000.0)
    outcome = m.on_bid(Bid(PeerAccount("payer"), IH, 50_000, 1_060.0), 1_060.0)
    assert isinstance(outcome, RoundResult)
    assert outcome.outcome.winners == () and outcome.outcome.ineligible == (PeerAccount("payer"),)


@settings(max_examples=150, deadline=None)
@given(
    reserve=st.integers(0, 500),
    events=st.lists(
        st.tuples(st.sampled_from("abcde"), st.integers(0, 1000), st.floats(0, 30)),
        min_size=1,
        max_size=30,
    ),
)
def test_the_rate_in_force_never_exceeds_the_bid_in_force(
    reserve: int, events: list[tuple[str, int, float]]
) -> None:
    """Whatever bids arrive and whenever: a payer is charged at most the bid the auction holds
    for it, at least the reserve, and every payer charged pays the same uniform price."""
    now = 1_000.0
    m = SellerMarket(
        Auctioneer(IH, config=AuctioneerConfig(2, 1, 3)),
        ReservePrice(LinearGrowth(1, 1, 1), now, fixed=reserve),
        PossessionChallenger(
            TorrentGeometry(4 * 1024 * 1024, 256 * 1024), b"s" * 32, IH, lambda p, c: b"x", now=now
        ),
    )
    roster = PayerRoster(
        Limits(window=1, gift_ahead=1, max_forgiven=1, max_payment_failures=1, payment_timeout=1)
    )
    for name, bid, dt in events:
        now += dt
        roster.join(name, IH.hex(), f"127.0.0.{ord(name)}", "e", 256 * 1024)
        outcome = m.on_bid(Bid(PeerAccount(name), IH, bid, now), now)
        if isinstance(outcome, RoundResult):
            roster.apply_round(IH.hex(), outcome)
        held = m.auctioneer.bids
        charged = {}
        for peer in "abcde":
            rate = roster.rate_for(peer, IH.hex())
            if rate is not None:
                assert rate <= held[PeerAccount(peer)].rate_per_piece_units
                assert rate >= reserve
                charged[peer] = rate
        assert len(set(charged.values())) <= 1, charged
