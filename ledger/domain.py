"""Domain values of the ledger: amounts, channels, commands' proofs and typed rejections.

Nothing here does I/O or knows about protobuf or SQL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

Amount = NewType("Amount", int)
"""BTT base units (1 BTT = 1,000,000 units)."""
Nonce = NewType("Nonce", int)
ChannelId = NewType("ChannelId", bytes)
Timestamp = NewType("Timestamp", int)
"""Unix seconds from the ledger's clock."""

UNITS_PER_BTT = 1_000_000
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
# No single operation may move more than this: far above BTT's whole supply (990e9 BTT = 9.9e17
# units) and far enough below int64 that no sum of two balances can overflow a column.
MAX_AMOUNT = 10**18


class Rejection(enum.Enum):
    """Stable, machine-readable reasons. The value is the reason string on the wire."""

    MALFORMED = "MALFORMED"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    AMOUNT_OVERFLOW = "AMOUNT_OVERFLOW"
    INVALID_ADDRESS = "INVALID_ADDRESS"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    INVALID_NONCE = "INVALID_NONCE"
    SELF_TRANSFER = "SELF_TRANSFER"
    CHANNEL_ID_MISMATCH = "CHANNEL_ID_MISMATCH"
    PAYLOAD_MISMATCH = "PAYLOAD_MISMATCH"
    EXCEEDS_DEPOSIT = "EXCEEDS_DEPOSIT"
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    WRONG_SIGNER = "WRONG_SIGNER"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    UNKNOWN_WITHDRAWAL = "UNKNOWN_WITHDRAWAL"
    CHANNEL_EXISTS = "CHANNEL_EXISTS"
    NONCE_REUSED = "NONCE_REUSED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    CHANNEL_NOT_OPEN = "CHANNEL_NOT_OPEN"
    CHANNEL_SETTLED = "CHANNEL_SETTLED"
    CHANNEL_EXPIRED = "CHANNEL_EXPIRED"
    NOT_YET_EXPIRED = "NOT_YET_EXPIRED"
    CHALLENGE_OVER = "CHALLENGE_OVER"
    STALE_STATE = "STALE_STATE"
    CUMULATIVE_DECREASED = "CUMULATIVE_DECREASED"
    WRONG_SEQUENCE = "WRONG_SEQUENCE"
    REFUND_MISMATCH = "REFUND_MISMATCH"
    WITHDRAWAL_NOT_PENDING = "WITHDRAWAL_NOT_PENDING"
    DEPOSIT_CONFLICT = "DEPOSIT_CONFLICT"


class Rejected(Exception):
    """A typed refusal: nothing changed. Carries a stable reason and a human message."""

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class SignedBy:
    """A signature and the domain-separated digest it must cover."""

    digest: bytes
    signature: bytes


class ChannelStatus(enum.Enum):
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    SETTLED = "SETTLED"


class SettleReason(enum.Enum):
    PAYEE_CLOSE = "PAYEE_CLOSE"
    COOPERATIVE = "COOPERATIVE"
    REFUND = "REFUND"
    CHALLENGE_EXPIRED = "CHALLENGE_EXPIRED"
    SWEPT = "SWEPT"


@dataclass(frozen=True, slots=True)
class Channel:
    channel_id: ChannelId
    payer: str
    payee: str
    deposit: Amount
    expiry: Timestamp
    status: ChannelStatus
    opened_at: Timestamp
    best_nonce: Nonce = Nonce(0)
    best_cumulative: Amount = Amount(0)
    best_signature: bytes = b""
    close_deadline: Timestamp = Timestamp(0)
    topup_sequence: int = 0
    refund_signature: bytes = b""
    paid_to_payee: Amount = Amount(0)
    refunded_to_payer: Amount = Amount(0)
    settle_reason: SettleReason | None = None
    settled_at: Timestamp = Timestamp(0)

    @property
    def escrow(self) -> Amount:
        """What the channel holds now: its deposit until settled, nothing after."""
        return Amount(0) if self.status is ChannelStatus.SETTLED else self.deposit


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    balance: Amount = Amount(0)
    nonce: Nonce = Nonce(0)
