"""Integer arithmetic between pieces, bytes and base units, shared by payer and payee."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def piece_payments(rate: int, shares: Mapping[K, int], piece_size: int) -> dict[K, int]:
    """What each peer earns for one verified piece: rate x its bytes / the piece's size, rounded
    down. Shares of one piece never exceed its size, so the total never exceeds the rate, and a
    peer that delivered the whole piece (the short last one included) gets exactly the rate."""
    if rate < 0 or piece_size <= 0:
        raise ValueError("rate must be >= 0 and piece_size > 0")
    out: dict[K, int] = {}
    for peer, nbytes in shares.items():
        amount = rate * min(max(nbytes, 0), piece_size) // piece_size
        if amount > 0:
            out[peer] = amount
    return out


@dataclass
class PaidBytes:
    """The payee's view of how many bytes a channel's cumulative amount has paid for.

    The rate can change (the auction reprices winners), so each rate starts an epoch: bytes
    paid before it are kept, and only value received afterwards is converted at the new rate.
    """

    piece_length: int
    rate: int = 0
    cumulative: int = 0
    _base_bytes: int = 0
    _base_cumulative: int = 0

    @property
    def value(self) -> int:
        if self.rate <= 0:
            return self._base_bytes
        extra = (self.cumulative - self._base_cumulative) * self.piece_length // self.rate
        return self._base_bytes + extra

    def paid(self, cumulative: int) -> int:
        """Record the channel's best cumulative; returns the bytes paid for."""
        self.cumulative = max(self.cumulative, cumulative)
        return self.value

    def set_rate(self, rate: int) -> None:
        if rate == self.rate:
            return
        self._base_bytes = self.value
        self._base_cumulative = self.cumulative
        self.rate = rate
