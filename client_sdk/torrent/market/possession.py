"""Proof of possession: the payee challenges for the SHA-256 of one 16 KiB chunk it has not
uploaded recently; a peer that answers correctly holds the torrent, so the reserve price resets.

The chunk comes from a deterministic PRNG (HMAC-SHA256 in counter mode) keyed with
secret XOR infohash, so peers cannot predict it and the payee needs no extra state to redo it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from client_sdk.torrent.market.bids import InfoHash

CHUNK_SIZE = 16 * 1024
SECRET_BYTES = 32
# After this many draws that hit recently uploaded chunks, scan forward for a free one instead:
# with a nearly full bitmap, pure redrawing could take as many draws as there are chunks.
MAX_DRAWS = 64
_REMEMBERED_ANSWERS = 1024

ReadChunk = Callable[[int, int], bytes]
"""read_chunk(piece, chunk) -> the chunk's bytes (shorter at the end of the torrent)."""


@dataclass(frozen=True, slots=True)
class TorrentGeometry:
    total_size: int
    piece_size: int
    chunk_size: int = CHUNK_SIZE

    def __post_init__(self) -> None:
        if self.total_size <= 0 or self.piece_size <= 0 or self.chunk_size <= 0:
            raise ValueError("sizes must be positive")
        if self.piece_size % self.chunk_size:
            raise ValueError("piece_size must be a multiple of chunk_size")

    @property
    def piece_count(self) -> int:
        return -(-self.total_size // self.piece_size)

    @property
    def chunks_per_piece(self) -> int:
        return self.piece_size // self.chunk_size

    @property
    def chunk_count(self) -> int:
        last = self.total_size - (self.piece_count - 1) * self.piece_size
        return (self.piece_count - 1) * self.chunks_per_piece + -(-last // self.chunk_size)

    def index(self, piece: int, chunk: int) -> int:
        """Torrent-wide chunk index; raises for a (piece, chunk) outside the torrent."""
        if not 0 <= piece < self.piece_count or not 0 <= chunk < self.chunks_per_piece:
            raise ValueError("chunk outside the torrent")
        index = piece * self.chunks_per_piece + chunk
        if index >= self.chunk_count:
            raise ValueError("chunk outside the torrent")
        return index

    def locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.chunk_count:
            raise ValueError("chunk outside the torrent")
        return divmod(index, self.chunks_per_piece)

    def contains(self, piece: int, chunk: int) -> bool:
        try:
            self.index(piece, chunk)
        except ValueError:
            return False
        return True


class ChunkPrng:
    """Deterministic stream of integers below a bound: HMAC-SHA256(key, counter), unbiased."""

    def __init__(self, secret: bytes, info_hash: bytes) -> None:
        self._key = seed_key(secret, info_hash)
        self._counter = 0

    def _block(self) -> int:
        digest = hmac.new(self._key, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
        self._counter += 1
        return int.from_bytes(digest, "big")

    def below(self, bound: int) -> int:
        if bound <= 0:
            raise ValueError("bound must be positive")
        # Rejection sampling keeps every value equally likely (bound is far below 2**256).
        limit = (1 << 256) - (1 << 256) % bound
        while True:
            value = self._block()
            if value < limit:
                return value % bound


def seed_key(secret: bytes, info_hash: bytes) -> bytes:
    """secret XOR infohash, the infohash zero-padded to the secret's length."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"secret must be {SECRET_BYTES} bytes")
    if not 0 < len(info_hash) <= SECRET_BYTES:
        raise ValueError("info_hash must be 1..32 bytes")
    padded = info_hash.ljust(SECRET_BYTES, b"\0")
    return bytes(a ^ b for a, b in zip(secret, padded, strict=True))


class UploadedChunks:
    """One bit per chunk, set when the chunk is uploaded; all cleared once every bit is set."""

    def __init__(self, chunk_count: int) -> None:
        if chunk_count <= 0:
            raise ValueError("chunk_count must be positive")
        self.chunk_count = chunk_count
        self._bits = bytearray(-(-chunk_count // 8))
        self._set = 0

    def __contains__(self, index: int) -> bool:
        return bool(self._bits[index >> 3] & (1 << (index & 7)))

    def __len__(self) -> int:
        return self._set

    def mark(self, index: int) -> None:
        if not 0 <= index < self.chunk_count:
            raise ValueError("chunk outside the torrent")
        if index in self:
            return
        self._bits[index >> 3] |= 1 << (index & 7)
        self._set += 1
        if self._set == self.chunk_count:
            self._bits = bytearray(len(self._bits))
            self._set = 0

    def next_clear(self, start: int) -> int:
        """First chunk at or after `start` (wrapping) whose bit is clear."""
        for offset in range(self.chunk_count):
            index = (start + offset) % self.chunk_count
            if index not in self:
                return index
        raise AssertionError("a full bitmap is always cleared")


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: int
    piece: int
    chunk: int
    issued_at: float


@dataclass(frozen=True, slots=True)
class Proof:
    challenge_nonce: int
    piece: int
    chunk: int
    chunk_sha256: bytes


class ProofRejection(enum.Enum):
    STALE = "STALE"
    """Answers a superseded, unknown or expired challenge."""
    REPLAY = "REPLAY"
    """Answers a challenge that was already answered."""
    WRONG_CHUNK = "WRONG_CHUNK"
    WRONG_HASH = "WRONG_HASH"


@dataclass(frozen=True, slots=True)
class ProofRejected:
    reason: ProofRejection
    detail: str


@dataclass(frozen=True, slots=True)
class ProofAccepted:
    answered: Challenge
    next_challenge: Challenge


def answer_challenge(challenge: Challenge, read_chunk: ReadChunk) -> Proof:
    """The prover's side: hash the requested chunk from our own copy."""
    data = read_chunk(challenge.piece, challenge.chunk)
    return Proof(challenge.nonce, challenge.piece, challenge.chunk, hashlib.sha256(data).digest())


class PossessionChallenger:
    """The payee's side, per seeded torrent: one current challenge, announced to every peer."""

    def __init__(
        self,
        geometry: TorrentGeometry,
        secret: bytes,
        info_hash: InfoHash,
        read_chunk: ReadChunk,
        *,
        now: float,
        challenge_ttl_s: float | None = None,
    ) -> None:
        self.geometry = geometry
        self._prng = ChunkPrng(secret, info_hash)
        self._read_chunk = read_chunk
        self._ttl = challenge_ttl_s
        self.uploaded = UploadedChunks(geometry.chunk_count)
        self._answered: deque[int] = deque(maxlen=_REMEMBERED_ANSWERS)
        self._nonce = 0
        self.current = self._issue(now)

    def _draw(self) -> int:
        index = 0
        for _ in range(MAX_DRAWS):
            index = self._prng.below(self.geometry.chunk_count)
            if index not in self.uploaded:
                return index
        return self.uploaded.next_clear(index)

    def _issue(self, now: float) -> Challenge:
        self._nonce += 1
        piece, chunk = self.geometry.locate(self._draw())
        return Challenge(self._nonce, piece, chunk, now)

    def reissue(self, now: float) -> Challenge:
        self.current = self._issue(now)
        return self.current

    def record_upload(self, piece: int, chunk: int, now: float) -> Challenge | None:
        """Mark an uploaded chunk. If it was the challenged one, its receiver could answer
        without holding the torrent, so a new challenge is issued and returned (announce it).
        """
        self.uploaded.mark(self.geometry.index(piece, chunk))
        if (piece, chunk) == (self.current.piece, self.current.chunk):
            return self.reissue(now)
        return None

    def verify(self, proof: Proof, now: float) -> ProofAccepted | ProofRejected:
        current = self.current
        if proof.challenge_nonce in self._answered:
            return ProofRejected(ProofRejection.REPLAY, "challenge already answered")
        if proof.challenge_nonce != current.nonce:
            return ProofRejected(ProofRejection.STALE, "not the current challenge")
        if self._ttl is not None and now - current.issued_at > self._ttl:
            return ProofRejected(ProofRejection.STALE, "challenge expired")
        if (proof.piece, proof.chunk) != (current.piece, current.chunk):
            return ProofRejected(ProofRejection.WRONG_CHUNK, "proof is for another chunk")
        expected = hashlib.sha256(self._read_chunk(current.piece, current.chunk)).digest()
        if not hmac.compare_digest(proof.chunk_sha256, expected):
            return ProofRejected(ProofRejection.WRONG_HASH, "chunk hash does not match")
        self._answered.append(current.nonce)
        # The answer is now known to the prover: treat the chunk as disclosed, like an upload.
        self.uploaded.mark(self.geometry.index(current.piece, current.chunk))
        return ProofAccepted(current, self.reissue(now))
