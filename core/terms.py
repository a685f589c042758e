"""The terms of a channel open, checked alike by the payee before it signs the refund, by the
payer before it funds, and by the ledger before the deposit locks (whitepaper T1/T2)."""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto import check_address
from core.rejections import Rejected, Rejection
from core.signing import derive_channel_id
from core.types import UINT64_MAX, Amount, check_amount

MAX_CHANNEL_LIFETIME = 366 * 24 * 3600


@dataclass(frozen=True, slots=True)
class OpenTerms:
    """What a channel open commits to. The channel id is derived from the rest."""

    ledger_id: str
    payer: str
    payee: str
    deposit: int
    expiry: int
    salt: int
    channel_id: bytes


def check_open_terms(terms: OpenTerms) -> Amount:
    """The deposit, when the terms are well-formed; else a typed refusal."""
    check_address(terms.payer, "payer")
    check_address(terms.payee, "payee")
    deposit = check_amount(terms.deposit, "deposit")
    if terms.payer == terms.payee:
        raise Rejected(Rejection.SELF_TRANSFER, "payer and payee must differ")
    if not 0 <= terms.salt <= UINT64_MAX:
        raise Rejected(Rejection.MALFORMED, "salt must be an unsigned 64-bit integer")
    expected = derive_channel_id(terms.ledger_id, terms.payer, terms.payee, terms.salt)
    if terms.channel_id != expected:
        raise Rejected(Rejection.CHANNEL_ID_MISMATCH, "channel_id is not derived from the terms")
    return deposit


def check_expiry(expiry: int, now: int) -> None:
    """The ledger's bounds: in the future and within MAX_CHANNEL_LIFETIME."""
    if not now < expiry <= now + MAX_CHANNEL_LIFETIME:
        raise Rejected(Rejection.INVALID_EXPIRY, "expiry must be in the future and within a year")


def refund_covers(
    refund: tuple[bytes, int, int], channel_id: bytes, expiry: int, version: int
) -> bool:
    """A refund (channel_id, expiry, version) is for exactly this channel, expiry and version."""
    return refund == (channel_id, expiry, version)
