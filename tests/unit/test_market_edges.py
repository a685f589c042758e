"""Market bounds and figures the mutation run (scripts/mutate) showed no other test pinning."""

from __future__ import annotations

import pytest

from client_sdk.torrent.market import (
    CHUNK_SIZE,
    NO_GROWTH,
    Auctioneer,
    AuctioneerConfig,
    Autobidder,
    Contender,
    InfoHash,
    PeerAccount,
    PossessionChallenger,
    ProofAccepted,
    ProofRejected,
    ProofRejection,
    RebidPolicy,
    SpendingRate,
    StepGrowth,
    TorrentGeometry,
    TorrentNeed,
    answer_challenge,
    autobid_per_piece,
)

PIECE = 256 * 1024


def test_a_spending_rate_of_zero_is_allowed_and_bids_nothing() -> None:
    assert autobid_per_piece(SpendingRate(0), 1_000_000, 10 * PIECE, PIECE) == 0
    assert autobid_per_piece(SpendingRate(0, 1), 1_000_000, PIECE, PIECE) == 0
    for bad in ((-1, 1), (1, 0), (1, -1)):
        with pytest.raises(ValueError):
            SpendingRate(*bad)


def test_a_chunk_is_16_kib() -> None:
    # The BitTorrent block size: the challenged chunk is what one request carries.
    assert CHUNK_SIZE == 16_384
    assert TorrentGeometry(total_size=PIECE, piece_size=PIECE).chunks_per_piece == 16


@pytest.mark.parametrize(
    "sizes", [(0, PIECE, CHUNK_SIZE), (PIECE, 0, CHUNK_SIZE), (PIECE, PIECE, 0), (-1, PIECE, 16)]
)
def test_each_size_of_a_geometry_must_be_positive(sizes: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        TorrentGeometry(*sizes)


def test_the_last_1024_answered_challenges_are_remembered_as_replays() -> None:
    data = bytes(range(256)) * 64 * 4  # 4 chunks of 16 KiB
    geometry = TorrentGeometry(total_size=len(data), piece_size=CHUNK_SIZE)

    def read(piece: int, chunk: int) -> bytes:
        start = piece * CHUNK_SIZE
        return data[start : start + CHUNK_SIZE]

    challenger = PossessionChallenger(geometry, b"\x07" * 32, InfoHash(b"\x01" * 20), read, now=0)
    proofs = []
    for _ in range(1025):
        proof = answer_challenge(challenger.current, read)
        assert isinstance(challenger.verify(proof, now=0), ProofAccepted)
        proofs.append(proof)
    # nonce 1 has left the memory of 1024 answers: it is merely not the current challenge
    first = challenger.verify(proofs[0], now=0)
    assert isinstance(first, ProofRejected) and first.reason is ProofRejection.STALE
    second = challenger.verify(proofs[1], now=0)
    assert isinstance(second, ProofRejected) and second.reason is ProofRejection.REPLAY


def test_autobid_needs_bytes_left_and_a_piece_size() -> None:
    for remaining, piece in ((0, PIECE), (PIECE, 0), (-1, PIECE)):
        with pytest.raises(ValueError):
            autobid_per_piece(SpendingRate(1), 1_000_000, remaining, piece)


def test_the_default_rebid_policy_is_a_minute_and_ten_percent() -> None:
    policy = RebidPolicy()
    assert (policy.min_interval_s, policy.min_change_ppm) == (60.0, 100_000)


def test_no_balance_bids_nothing() -> None:
    assert autobid_per_piece(SpendingRate(1), 0, PIECE, PIECE) == 0
    assert autobid_per_piece(SpendingRate(1), -5, PIECE, PIECE) == 0
    assert autobid_per_piece(SpendingRate(1), 7, PIECE, PIECE) == 7


def test_a_torrent_with_one_byte_left_is_still_bid_on() -> None:
    bidder = Autobidder(budget=1_000, spending_rate=SpendingRate(1), clock=lambda: 0.0)
    [update] = bidder.poll([TorrentNeed(InfoHash(b"\x02" * 20), PIECE, 1)])
    assert update.rate_per_piece_units == 1_000


def test_a_geometry_knows_which_chunks_it_contains() -> None:
    geometry = TorrentGeometry(total_size=PIECE + 1, piece_size=PIECE)
    assert geometry.contains(0, 0) and geometry.contains(1, 0)
    assert not geometry.contains(1, 1) and not geometry.contains(2, 0)


def test_the_auctioneer_defaults_are_four_paid_slots_and_one_optimistic() -> None:
    config = AuctioneerConfig()
    assert (config.paid_slots, config.optimistic_slots, config.optimistic_every) == (4, 1, 3)


def test_the_optimistic_slot_rotates_on_the_first_of_every_n_timer_rounds() -> None:
    config = AuctioneerConfig(paid_slots=0, optimistic_slots=1, optimistic_every=3)
    auctioneer = Auctioneer(InfoHash(b"\x03" * 20), config=config, reserve=0)
    for peer in ("a", "b", "c"):
        auctioneer.add_peer(PeerAccount(peer))
    picks = []
    for second in range(1, 8):
        auctioneer.timer_tick()
        picks.append(auctioneer.run_round(float(second)).optimistic)
    assert picks[0] == picks[1] == picks[2] != picks[3]
    assert picks[3] == picks[4] == picks[5] != picks[6]


def test_a_contender_has_received_nothing_unless_told() -> None:
    contender = Contender(PeerAccount("p"), 5)
    assert (contender.data_received, contender.choked_since) == (0, None)


def test_a_step_growth_starts_at_zero_and_no_growth_never_grows() -> None:
    growth = StepGrowth(step_units=5, step_seconds=1, cap=100)
    assert (growth.price_after(-3), growth.price_after(0), growth.price_after(2)) == (0, 0, 10)
    assert NO_GROWTH.price_after(10**6) == 0
