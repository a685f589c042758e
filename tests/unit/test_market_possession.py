from __future__ import annotations

import hashlib
import random

import pytest

from client_sdk.torrent.market import (
    CHUNK_SIZE,
    ChunkPrng,
    InfoHash,
    PossessionChallenger,
    Proof,
    ProofAccepted,
    ProofRejected,
    ProofRejection,
    TorrentGeometry,
    UploadedChunks,
    answer_challenge,
)
from client_sdk.torrent.market.possession import seed_key

PIECE = 4 * CHUNK_SIZE
GEOMETRY = TorrentGeometry(total_size=10 * PIECE + CHUNK_SIZE + 100, piece_size=PIECE)
DATA = random.Random(7).randbytes(GEOMETRY.total_size)
SECRET = bytes(range(32))
IH = InfoHash(b"\xab" * 20)


def read_chunk(piece: int, chunk: int) -> bytes:
    start = piece * PIECE + chunk * CHUNK_SIZE
    return DATA[start : start + CHUNK_SIZE]


def challenger(ttl: float | None = None) -> PossessionChallenger:
    return PossessionChallenger(GEOMETRY, SECRET, IH, read_chunk, now=0.0, challenge_ttl_s=ttl)


def test_geometry() -> None:
    assert GEOMETRY.piece_count == 11
    assert GEOMETRY.chunks_per_piece == 4
    assert GEOMETRY.chunk_count == 10 * 4 + 2  # last piece: one full chunk and 100 bytes
    assert GEOMETRY.locate(41) == (10, 1)
    assert GEOMETRY.index(10, 1) == 41
    assert not GEOMETRY.contains(10, 2)
    assert not GEOMETRY.contains(11, 0)
    assert len(read_chunk(10, 1)) == 100
    with pytest.raises(ValueError):
        TorrentGeometry(total_size=1, piece_size=CHUNK_SIZE + 1)


def test_prng_is_deterministic_and_keyed() -> None:
    def draws(secret: bytes, ih: bytes) -> list[int]:
        prng = ChunkPrng(secret, ih)
        return [prng.below(1000) for _ in range(50)]

    assert draws(SECRET, IH) == draws(SECRET, IH)
    assert draws(SECRET, IH) != draws(SECRET, b"\xac" * 20)
    assert draws(SECRET, IH) != draws(bytes(32), IH)
    assert all(0 <= x < 1000 for x in draws(SECRET, IH))
    # Only secret XOR infohash matters.
    assert draws(seed_key(SECRET, IH), bytes(20)) == draws(SECRET, IH)


def test_prng_is_roughly_uniform() -> None:
    prng = ChunkPrng(SECRET, IH)
    counts = [0] * 4
    for _ in range(4000):
        counts[prng.below(4)] += 1
    assert all(900 < c < 1100 for c in counts)


def test_seed_key_validation() -> None:
    with pytest.raises(ValueError):
        seed_key(b"short", IH)
    with pytest.raises(ValueError):
        seed_key(SECRET, b"")


def test_bitmap_clears_when_full() -> None:
    bits = UploadedChunks(3)
    bits.mark(0)
    bits.mark(0)
    bits.mark(2)
    assert len(bits) == 2
    assert 0 in bits and 2 in bits and 1 not in bits
    assert bits.next_clear(2) == 1
    bits.mark(1)
    assert len(bits) == 0
    assert not any(i in bits for i in range(3))


def test_same_secret_same_challenges() -> None:
    first, second = challenger(), challenger()
    assert first.current == second.current
    assert first.reissue(1.0) == second.reissue(1.0)


def test_challenge_skips_recently_uploaded_chunks() -> None:
    def marked_evens() -> PossessionChallenger:
        ch = challenger()
        for index in range(0, GEOMETRY.chunk_count, 2):
            ch.uploaded.mark(index)
        return ch

    first, second = marked_evens(), marked_evens()
    drawn = [first.reissue(1.0) for _ in range(50)]
    assert all(GEOMETRY.index(c.piece, c.chunk) % 2 == 1 for c in drawn)
    assert len({(c.piece, c.chunk) for c in drawn}) > 5
    assert drawn == [second.reissue(1.0) for _ in range(50)]  # deterministic while skipping
    # Nearly full bitmap: the only clear chunk must be chosen.
    full = challenger()
    for index in range(GEOMETRY.chunk_count):
        if index != 17:
            full.uploaded.mark(index)
    c = full.reissue(2.0)
    assert GEOMETRY.index(c.piece, c.chunk) == 17


def test_uploading_the_challenged_chunk_reissues() -> None:
    ch = challenger()
    old = ch.current
    other = (old.piece + 1) % GEOMETRY.piece_count, 0
    if other == (old.piece, old.chunk):
        other = (old.piece, 1)
    assert ch.record_upload(*other, now=1.0) is None
    new = ch.record_upload(old.piece, old.chunk, now=2.0)
    assert new is not None and new is ch.current
    assert new.nonce == old.nonce + 1
    assert (new.piece, new.chunk) != (old.piece, old.chunk)
    stale = ch.verify(answer_challenge(old, read_chunk), now=3.0)
    assert isinstance(stale, ProofRejected) and stale.reason is ProofRejection.STALE


def test_valid_proof_accepted_then_replay_rejected() -> None:
    ch = challenger()
    proof = answer_challenge(ch.current, read_chunk)
    assert proof.chunk_sha256 == hashlib.sha256(read_chunk(proof.piece, proof.chunk)).digest()
    accepted = ch.verify(proof, now=5.0)
    assert isinstance(accepted, ProofAccepted)
    assert accepted.answered.nonce == proof.challenge_nonce
    assert accepted.next_challenge == ch.current
    assert accepted.next_challenge.nonce != proof.challenge_nonce
    answered_index = GEOMETRY.index(proof.piece, proof.chunk)
    assert answered_index in ch.uploaded  # disclosed chunk is not asked again soon
    replay = ch.verify(proof, now=6.0)
    assert isinstance(replay, ProofRejected) and replay.reason is ProofRejection.REPLAY


def test_invalid_proofs_rejected_with_reasons() -> None:
    ch = challenger(ttl=30.0)
    cur = ch.current
    good = answer_challenge(cur, read_chunk)
    other_chunk = (cur.chunk + 1) % 2
    cases = [
        (Proof(cur.nonce, cur.piece, cur.chunk, b"\x00" * 32), ProofRejection.WRONG_HASH, 1.0),
        (Proof(cur.nonce, cur.piece, cur.chunk, b"short"), ProofRejection.WRONG_HASH, 1.0),
        (
            Proof(cur.nonce, cur.piece, other_chunk, good.chunk_sha256),
            ProofRejection.WRONG_CHUNK,
            1.0,
        ),
        (Proof(cur.nonce + 5, cur.piece, cur.chunk, good.chunk_sha256), ProofRejection.STALE, 1.0),
        (good, ProofRejection.STALE, 31.0),  # expired
    ]
    for proof, reason, now in cases:
        result = ch.verify(proof, now=now)
        assert isinstance(result, ProofRejected), reason
        assert result.reason is reason
        assert ch.current == cur  # a bad proof changes nothing
    assert isinstance(ch.verify(good, now=30.0), ProofAccepted)


def test_hash_of_another_chunk_is_wrong_hash() -> None:
    ch = challenger()
    cur = ch.current
    other = read_chunk((cur.piece + 1) % 10, cur.chunk)
    proof = Proof(cur.nonce, cur.piece, cur.chunk, hashlib.sha256(other).digest())
    result = ch.verify(proof, now=1.0)
    assert isinstance(result, ProofRejected) and result.reason is ProofRejection.WRONG_HASH
