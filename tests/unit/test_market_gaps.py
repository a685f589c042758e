"""Market behaviour that mutation testing showed no test noticed."""

from __future__ import annotations

import hashlib

import pytest

from client_sdk.torrent.market import (
    CHUNK_SIZE,
    Autobidder,
    Contender,
    InfoHash,
    PeerAccount,
    PossessionChallenger,
    ProofAccepted,
    RebidPolicy,
    SpendingRate,
    TorrentGeometry,
    TorrentNeed,
    answer_challenge,
    choose_optimistic,
)
from client_sdk.torrent.market.possession import MAX_DRAWS, ChunkPrng, seed_key

PIECE = 256 * 1024
MIB = 1024 * 1024
A = InfoHash(b"\x0a" * 20)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bidder(budget: int = 100_000_000, policy: RebidPolicy | None = None) -> Autobidder:
    return Autobidder(
        budget=budget, spending_rate=SpendingRate.percent(100), policy=policy, clock=Clock()
    )


def test_spending_accumulates() -> None:
    ab = bidder()
    ab.record_spent(10_000_000)
    ab.record_spent(15_000_000)
    assert ab.remaining_balance == 75_000_000
    with pytest.raises(ValueError):
        ab.record_spent(-1)


def test_an_exhausted_budget_bids_zero() -> None:
    ab = bidder(budget=1_000_000)
    ab.record_spent(1_000_000)
    [update] = ab.poll([TorrentNeed(A, PIECE, 100 * MIB)])
    assert update.rate_per_piece_units == 0
    ab.record_spent(5)  # overspent: the balance stays at zero, never negative
    assert ab.remaining_balance == 0


def test_reenabling_one_torrent_bids_again() -> None:
    ab = bidder()
    need = [TorrentNeed(A, PIECE, 100 * MIB)]
    ab.poll(need)
    ab.set_torrent_enabled(A, False)
    assert not ab.is_bidding(A)
    assert [u.rate_per_piece_units for u in ab.poll(need)] == [None]
    ab.set_torrent_enabled(A, True)
    assert ab.is_bidding(A)
    assert [u.rate_per_piece_units for u in ab.poll(need)] == [250_000]


def test_a_custom_rebid_policy_is_kept() -> None:
    policy = RebidPolicy(min_interval_s=5, min_change_ppm=1)
    assert bidder(policy=policy).policy is policy
    assert bidder().policy == RebidPolicy()


def test_spending_rate_defaults_to_a_whole() -> None:
    rate = SpendingRate(1)
    assert (rate.numerator, rate.denominator) == (1, 1)
    assert SpendingRate.ppm(5) == SpendingRate(5, 1_000_000)
    assert SpendingRate.percent(5) == SpendingRate(5, 100)


def test_optimistic_tie_break_is_the_bid_not_the_name() -> None:
    # Names sort opposite to the bids, so only the bid can explain the order.
    candidates = [
        Contender(PeerAccount("a-low"), 1),
        Contender(PeerAccount("z-high"), 5),
        Contender(PeerAccount("m-none"), None),
    ]
    assert choose_optimistic(candidates, count=3) == ("z-high", "a-low", "m-none")


def data_for(geometry: TorrentGeometry) -> bytes:
    return bytes(i % 251 for i in range(geometry.total_size))


def reader(geometry: TorrentGeometry, data: bytes):  # type: ignore[no-untyped-def]
    def read(piece: int, chunk: int) -> bytes:
        start = piece * geometry.piece_size + chunk * CHUNK_SIZE
        return data[start : start + CHUNK_SIZE]

    return read


def test_a_challenge_can_name_chunk_zero_and_its_proof_is_accepted() -> None:
    geometry = TorrentGeometry(total_size=2 * CHUNK_SIZE, piece_size=2 * CHUNK_SIZE)
    data = data_for(geometry)
    ch = PossessionChallenger(geometry, bytes(32), A, reader(geometry, data), now=0.0)
    ch.uploaded.mark(1)  # only chunk 0 is left to challenge
    challenge = ch.reissue(1.0)
    assert (challenge.piece, challenge.chunk) == (0, 0)
    proof = answer_challenge(challenge, reader(geometry, data))
    assert proof.chunk_sha256 == hashlib.sha256(data[:CHUNK_SIZE]).digest()
    assert isinstance(ch.verify(proof, 2.0), ProofAccepted)


def test_a_single_chunk_torrent_is_always_challenged_on_its_only_chunk() -> None:
    geometry = TorrentGeometry(total_size=100, piece_size=CHUNK_SIZE)
    assert geometry.chunk_count == 1
    data = data_for(geometry)
    ch = PossessionChallenger(geometry, bytes(32), A, reader(geometry, data), now=0.0)
    for now in (1.0, 2.0, 3.0):
        c = ch.reissue(now)
        assert (c.piece, c.chunk) == (0, 0)
        verdict = ch.verify(answer_challenge(c, reader(geometry, data)), now)
        assert isinstance(verdict, ProofAccepted)  # the bitmap clears once full: no dead end


def test_v2_info_hashes_key_the_challenges() -> None:
    v2 = b"\x01" * 32
    key = seed_key(bytes(32), v2)
    assert key == v2  # secret 0 XOR the whole 32-byte hash
    assert ChunkPrng(bytes(32), v2).below(1000) != ChunkPrng(bytes(32), b"\x02" * 32).below(1000)
    with pytest.raises(ValueError):
        seed_key(bytes(32), b"\x01" * 33)
    with pytest.raises(ValueError):
        seed_key(bytes(32), b"")
    with pytest.raises(ValueError):
        seed_key(bytes(31), b"\x01" * 20)


def test_after_max_draws_misses_the_next_clear_chunk_is_scanned_for() -> None:
    geometry = TorrentGeometry(total_size=4096 * CHUNK_SIZE, piece_size=16 * CHUNK_SIZE)
    data = b""

    def read(piece: int, chunk: int) -> bytes:
        return data

    ch = PossessionChallenger(geometry, bytes(32), A, read, now=0.0)
    free = 4000
    for index in range(geometry.chunk_count):
        if index != free:
            ch.uploaded.mark(index)
    # One clear chunk in 4096: redrawing alone would almost surely miss it MAX_DRAWS times.
    assert MAX_DRAWS == 64
    c = ch.reissue(1.0)
    assert geometry.index(c.piece, c.chunk) == free
