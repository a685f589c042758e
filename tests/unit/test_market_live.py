"""The seller's market as the live flow drives it: a bid is auctioned at the reserve in force
when it arrives, not at the one of the last choke round."""

from __future__ import annotations

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
