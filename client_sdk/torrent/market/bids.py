"""Bid and bid-response values, and integer conversions between per-byte and per-piece rates."""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import NewType

PeerAccount = NewType("PeerAccount", str)
"""The ledger account a peer bids and pays from: how the market tells peers apart."""
InfoHash = NewType("InfoHash", bytes)

# Same ceiling as the ledger's MAX_AMOUNT: no rate above it can ever be paid.
MAX_RATE_UNITS = 10**18


@dataclass(frozen=True, slots=True)
class Bid:
    """What a payer offers one payee for each verified piece of one torrent."""

    bidder: PeerAccount
    info_hash: InfoHash
    rate_per_piece_units: int
    at: float
    """Unix seconds when the bidder made the bid; a later bid replaces an earlier one."""


@dataclass(frozen=True, slots=True)
class BidResponse:
    """The rate a winner must pay, never above its bid (0: unchoked for free). The channel
    terms that go with it are the payee's `PayeeTerms`, sent in the Bid RPC's answer."""

    info_hash: InfoHash
    rate_per_piece_units: int


def per_piece_from_per_byte(units: int, per_bytes: int, piece_size: int) -> int:
    """Rate per piece for a rate of `units` per `per_bytes` bytes, rounded down.

    Rounding down means a bidder is never held to more than the rate it stated.
    """
    _check_positive(per_bytes=per_bytes, piece_size=piece_size)
    if units < 0:
        raise ValueError("rate must not be negative")
    return units * piece_size // per_bytes


def per_byte_from_per_piece(rate_per_piece: int, piece_size: int) -> tuple[int, int]:
    """The exact per-byte rate as (units, per_bytes), reduced; integers cannot hold it otherwise."""
    _check_positive(piece_size=piece_size)
    if rate_per_piece < 0:
        raise ValueError("rate must not be negative")
    divisor = gcd(rate_per_piece, piece_size) or 1
    return rate_per_piece // divisor, piece_size // divisor


def piece_price(rate_per_piece: int, piece_length: int, piece_size: int) -> int:
    """What one piece costs: the full rate, pro rata for the torrent's shorter last piece.

    Rounded up so that a non-zero rate never makes a piece free.
    """
    _check_positive(piece_size=piece_size)
    if not 0 < piece_length <= piece_size:
        raise ValueError("piece_length must be in 1..piece_size")
    return -(-rate_per_piece * piece_length // piece_size)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive")
