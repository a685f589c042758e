"""Amounts and ids as distinct types, and the numeric limits every party checks."""

from __future__ import annotations

from typing import NewType

from core.rejections import Rejected, Rejection

Amount = NewType("Amount", int)
"""BTT base units (1 BTT = 1,000,000 units)."""
Nonce = NewType("Nonce", int)
ChannelId = NewType("ChannelId", bytes)
Timestamp = NewType("Timestamp", int)
"""Unix seconds from the ledger's clock."""
Address = NewType("Address", str)
"""TRON base58check address, e.g. 'TCLBgkbfVkJroVBJVqBEsxtPNQEQMTQCLQ'; also an account id."""

UNITS_PER_BTT = 1_000_000
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
# No single operation may move more than this: far above BTT's whole supply (990e9 BTT = 9.9e17
# units) and far enough below int64 that no sum of two balances can overflow a column.
MAX_AMOUNT = 10**18
# The total-supply cap: deposits credited minus withdrawals paid never exceed it (checked at credit
# time), so every balance, escrow and pending total fits int64 many times over.
MAX_SUPPLY = 10**18
INT32_MAX = 2**31 - 1


def check_amount(value: int, field: str, *, allow_zero: bool = False) -> Amount:
    if value < 0 or (value == 0 and not allow_zero):
        raise Rejected(
            Rejection.INVALID_AMOUNT, f"{field} must be {'>= 0' if allow_zero else '> 0'}"
        )
    if value > MAX_AMOUNT:
        raise Rejected(Rejection.AMOUNT_OVERFLOW, f"{field} exceeds the maximum of {MAX_AMOUNT}")
    return Amount(value)
