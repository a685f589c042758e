from __future__ import annotations

import random

from client_sdk.torrent.market import (
    CHUNK_SIZE,
    ActionKind,
    Auctioneer,
    AuctioneerConfig,
    Bid,
    BidRefused,
    BidRejection,
    InfoHash,
    PeerAccount,
    PossessionChallenger,
    Proof,
    ProofAccepted,
    ProofRejected,
    ReservePrice,
    RoundResult,
    SellerMarket,
    StepGrowth,
    TorrentGeometry,
    Trigger,
    answer_challenge,
)

IH = InfoHash(b"\x07" * 20)
GEOMETRY = TorrentGeometry(total_size=8 * CHUNK_SIZE, piece_size=2 * CHUNK_SIZE)
DATA = random.Random(1).randbytes(GEOMETRY.total_size)


def read_chunk(piece: int, chunk: int) -> bytes:
    start = (piece * 2 + chunk) * CHUNK_SIZE
    return DATA[start : start + CHUNK_SIZE]


def market() -> SellerMarket:
    auctioneer = Auctioneer(IH, config=AuctioneerConfig(paid_slots=1, optimistic_slots=0))
    reserve = ReservePrice(StepGrowth(step_units=100, step_seconds=60, cap=1000), completed_at=0.0)
    challenger = PossessionChallenger(GEOMETRY, bytes(32), IH, read_chunk, now=0.0)
    return SellerMarket(auctioneer, reserve, challenger, min_bid_interval_s=10.0)


def test_reserve_grows_into_rounds_and_proof_resets_it() -> None:
    m = market()
    assert m.announcement(0.0).reserve_price == 0
    assert isinstance(m.on_bid(Bid(PeerAccount("a"), IH, 150, 1.0), now=1.0), RoundResult)
    result, announcement = m.choke_round(130.0)
    assert announcement is not None and announcement.reserve_price == 200
    assert result.outcome.winners == ()  # 150 < reserve 200
    assert m.choke_round(140.0)[1] is None  # nothing changed: nothing to announce

    bad = m.on_proof(Proof(m.challenger.current.nonce, 0, 0, b"\x00" * 32), now=150.0)
    assert isinstance(bad.verdict, ProofRejected)
    assert m.reserve.price(150.0) == 200  # an invalid proof does not reset the price

    outcome = m.on_proof(answer_challenge(m.challenger.current, read_chunk), now=150.0)
    assert isinstance(outcome.verdict, ProofAccepted)
    assert outcome.announcement is not None
    assert outcome.announcement.reserve_price == 0
    assert outcome.announcement.challenge == outcome.verdict.next_challenge
    assert outcome.round is not None
    assert [(a.peer, a.kind) for a in outcome.round.actions] == [
        ("a", ActionKind.RESPOND_THEN_UNCHOKE)
    ]


def test_bid_changes_are_rate_limited_per_peer() -> None:
    m = market()
    assert isinstance(m.on_bid(Bid(PeerAccount("a"), IH, 10, 1.0), now=1.0), RoundResult)
    too_soon = m.on_bid(Bid(PeerAccount("a"), IH, 11, 2.0), now=5.0)
    assert isinstance(too_soon, BidRefused) and too_soon.reason is BidRejection.TOO_FREQUENT
    assert m.on_bid(Bid(PeerAccount("a"), IH, 10, 3.0), now=6.0) is None  # same rate: harmless
    assert isinstance(m.on_bid(Bid(PeerAccount("a"), IH, 11, 4.0), now=11.0), RoundResult)
    wrong = m.on_bid(Bid(PeerAccount("b"), InfoHash(b"x" * 20), 1, 1.0), now=11.0)
    assert isinstance(wrong, BidRefused) and wrong.reason is BidRejection.WRONG_TORRENT


def test_uploading_the_challenge_chunk_announces_a_new_one() -> None:
    m = market()
    first = m.announcement(0.0).challenge
    announcement = m.on_upload(first.piece, first.chunk, now=1.0)
    assert announcement is not None
    assert announcement.challenge != first
    assert announcement.challenge == m.challenger.current


def test_fixed_reserve_reauctions_and_peer_leaving() -> None:
    m = market()
    m.on_bid(Bid(PeerAccount("a"), IH, 50, 1.0), now=1.0)
    announcement, result = m.set_fixed_reserve(60, now=2.0)
    assert announcement is not None and announcement.reserve_price == 60
    assert result is not None
    assert [(a.peer, a.kind) for a in result.actions] == [("a", ActionKind.CHOKE)]
    m.set_fixed_reserve(None, now=3.0)
    assert m.on_peer_left(PeerAccount("a"), now=4.0) is not None
    assert m.auctioneer.bids == {}


def test_the_periodic_round_is_a_timer_round() -> None:
    """Only TIMER rounds rotate the optimistic slot: the seller's periodic round must be one."""
    m = market()
    m.auctioneer.add_peer(PeerAccount("a"))
    result, _ = m.choke_round(10.0)
    assert Trigger.TIMER in result.triggers
    assert m.auctioneer.pending == frozenset()  # the round consumed its trigger
