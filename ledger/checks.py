"""Checks of a request's fields before any decision: ids, counters, text, supply, signer, sums.

Each returns the value or raises `Rejected` with a stable reason. `ledger.protocol` re-exports them.
"""

from __future__ import annotations

from core.crypto import InvalidSignature, raw_address, recover_raw_address
from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.types import INT32_MAX, INT64_MAX, MAX_SUPPLY, Amount


def check_id(value: int, field: str) -> int:
    """A row id or cursor: uint64 on the wire, a signed 64-bit integer in the database."""
    if value > INT64_MAX:
        raise Rejected(Rejection.MALFORMED, f"{field} must be below 2^63")
    return value


def check_index(value: int, field: str) -> int:
    """A small counter stored as a signed 32-bit integer (uint32 on the wire)."""
    if not 0 <= value <= INT32_MAX:
        raise Rejected(Rejection.MALFORMED, f"{field} must be below 2^31")
    return value


def check_text(value: str, field: str, max_chars: int) -> str:
    if len(value) > max_chars:
        raise Rejected(Rejection.MALFORMED, f"{field} is longer than {max_chars} characters")
    return value


def check_supply(outstanding: int, lifetime_credited: int, amount: int) -> None:
    """A deposit credit keeps credits outstanding within the total-supply cap.

    `outstanding` is deposits credited minus withdrawals paid; `lifetime_credited` is every
    deposit ever credited, which must stay a signed 64-bit total.
    """
    if outstanding + amount > MAX_SUPPLY:
        raise Rejected(
            Rejection.AMOUNT_OVERFLOW,
            f"credits outstanding would pass the total-supply cap of {MAX_SUPPLY} units",
        )
    if lifetime_credited + amount > INT64_MAX:
        raise Rejected(Rejection.AMOUNT_OVERFLOW, "deposits credited would pass 2^63-1 units")


def require_signer(proof: SignedBy, signer: str, what: str) -> None:
    try:
        recovered = recover_raw_address(proof.digest, proof.signature)
    except InvalidSignature as exc:
        raise Rejected(Rejection.BAD_SIGNATURE, f"{what}: {exc}") from None
    if recovered != raw_address(signer):
        raise Rejected(Rejection.WRONG_SIGNER, f"{what} is not signed by {signer}")


def credit(balance: int, amount: int, field: str) -> Amount:
    """balance + amount, refused when it would not fit an int64 column."""
    total = balance + amount
    if total > INT64_MAX:
        raise Rejected(Rejection.AMOUNT_OVERFLOW, f"{field} would overflow")
    return Amount(total)
