"""The payer's bid decisions per paid seeder, pure: whether a bid may be sent, why a peer serves
us for free, whether a rate a payee asks may be paid, and the words the user sees for each.

A bid below the seeder's reserve price is never sent (the auction would only refuse it); the
peer stays free with the reason shown ("reserve 0.002 BTT/piece above your bid 0.001 BTT"),
and the bid is tried again when it rises (autobid) or the reserve falls (a proof of possession).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

UNITS_PER_BTT = 1_000_000


class FreeReason(enum.StrEnum):
    """Why a peer serves us without pay."""

    NO_BID = "no bid"
    BELOW_RESERVE = "below reserve"
    OUTBID = "lost the auction"
    LEGACY = "legacy"
    """It runs no payee service: a plain BitTorrent peer."""
    NO_CHANNEL = "no channel"
    """The bid won but no channel could be opened (budget, ledger or payee trouble)."""


# The payee's reasons (BidResponse.reason, a choke's reason on the Watch stream) as free reasons.
_PAYEE_REASONS = {
    "NO_BID": FreeReason.NO_BID,
    "BELOW_RESERVE": FreeReason.BELOW_RESERVE,
    "OUTBID": FreeReason.OUTBID,
    "BID_TOO_LOW": FreeReason.OUTBID,
}

TOO_FREQUENT = "TOO_FREQUENT"
"""The payee kept our earlier bid: a change came sooner than its minimum interval."""


def btt_text(units: int) -> str:
    """Units as BTT, exact: 2000 -> '0.002 BTT'."""
    whole, frac = divmod(abs(units), UNITS_PER_BTT)
    text = f"{'-' if units < 0 else ''}{whole:,}"
    if frac:
        text += f".{frac:06d}".rstrip("0")
    return f"{text} BTT"


def may_bid(bid: int, reserve: int | None) -> FreeReason | None:
    """None when the bid may be sent; otherwise why the peer stays free (and nothing is sent)."""
    if bid <= 0:
        return FreeReason.NO_BID
    if reserve is not None and bid < reserve:
        return FreeReason.BELOW_RESERVE
    return None


def acceptable_rate(rate: int, bid: int) -> bool:
    """A payee may charge at most what we bid (the uniform price is never above a winner's bid)."""
    return 0 < rate <= bid


def payee_reason(reason: str) -> FreeReason:
    """The free reason for a payee's refusal or choke reason (unknown ones: outbid)."""
    return _PAYEE_REASONS.get(reason, FreeReason.OUTBID)


@dataclass(frozen=True, slots=True)
class BidState:
    """What the payer knows of one paid seeder's market when it last tried to bid there."""

    bid: int
    reserve: int | None
    free: FreeReason | None

    def note(self) -> str:
        """The words for the user: why this peer is free, with the numbers."""
        if self.free is FreeReason.BELOW_RESERVE and self.reserve is not None:
            return (
                f"reserve {btt_text(self.reserve)}/piece above your bid "
                f"{btt_text(self.bid)}: free peer"
            )
        if self.free is FreeReason.NO_BID:
            return "no bid (budget or autobid is zero): free peer"
        if self.free is FreeReason.OUTBID:
            return f"bid {btt_text(self.bid)}/piece lost the auction: free peer"
        if self.free is not None:
            return f"{self.free.value}: free peer"
        return ""


def worth_retrying(state: BidState, bid_now: int, reserve_now: int | None) -> bool:
    """A seeder we do not pay yet: is a new attempt worth it? Only when the bid would now be
    sent where it was not, or a lost bid changed (the auction may now take it)."""
    if state.free in (FreeReason.NO_BID, FreeReason.BELOW_RESERVE):
        return may_bid(bid_now, reserve_now) is None
    if state.free is FreeReason.OUTBID:
        return bid_now > state.bid and may_bid(bid_now, reserve_now) is None
    return False
