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

    Pieces delivered before a reprice but paid after it (in flight, or verified before the
    payer heard of the new rate) are paid at whichever rate the payer knew, so the bytes
    delivered and unpaid at the switch (`delivered` - paid, the debt) are converted at the
    lower of the two rates, the rest at the new rate. Converting them at the new, higher rate
    would leave the payer short of credit for pieces it has paid in full, for good: its
    request window would never open again. The payee concedes at most the rate difference on
    that debt, which its exposure window bounds.
    """

    piece_length: int
    rate: int = 0
    cumulative: int = 0
    _base_bytes: int = 0
    _base_cumulative: int = 0
    _debt_bytes: int = 0
    _debt_rate: int = 0

    @property
    def value(self) -> int:
        units = self.cumulative - self._base_cumulative
        debt_units = 0
        if self._debt_bytes and self._debt_rate > 0:
            debt_units = -(-self._debt_bytes * self._debt_rate // self.piece_length)
            if units < debt_units:
                return self._base_bytes + units * self.piece_length // self._debt_rate
        if self.rate <= 0:
            return self._base_bytes + (self._debt_bytes if debt_units else 0)
        extra = (units - debt_units) * self.piece_length // self.rate
        return self._base_bytes + (self._debt_bytes if debt_units else 0) + extra

    def paid(self, cumulative: int) -> int:
        """Record the channel's best cumulative; returns the bytes paid for."""
        self.cumulative = max(self.cumulative, cumulative)
        return self.value

    def set_rate(self, rate: int, delivered: int = 0) -> None:
        """A new rate from now on; `delivered`: bytes handed to the payer so far."""
        if rate == self.rate:
            return
        old = self.rate
        self._base_bytes = self.value
        self._base_cumulative = self.cumulative
        self._debt_bytes = max(0, delivered - self._base_bytes) if old > 0 else 0
        self._debt_rate = min(old, rate) if rate > 0 else old
        self.rate = rate
