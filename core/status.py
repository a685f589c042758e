"""Statuses shared by the ledger, its clients and the bridge: one enum per concept."""

from __future__ import annotations

import enum


class ChannelStatus(enum.Enum):
    """A channel on the ledger (ledger.protocol.TRANSITIONS). Clients show `label()`."""

    OPEN = "OPEN"
    CLOSING = "CLOSING"
    SETTLED = "SETTLED"

    def label(self) -> str:
        return self.value.lower()


class SettleReason(enum.Enum):
    PAYEE_CLOSE = "PAYEE_CLOSE"
    COOPERATIVE = "COOPERATIVE"
    REFUND = "REFUND"
    CHALLENGE_EXPIRED = "CHALLENGE_EXPIRED"
    SWEPT = "SWEPT"


class WithdrawalStatus(enum.StrEnum):
    """A withdrawal's lifecycle (ledger.protocol.WITHDRAWAL_TRANSITIONS); the value is the wire
    and database text."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class EventKind(enum.StrEnum):
    """What an event on the ledger's stream reports. The value is the database text; on the wire
    it is the proto's EventKind (core.wire maps the two)."""

    CHANNEL_OPENED = "channel_opened"
    CHANNEL_UPDATED = "channel_updated"
    CHANNEL_CLOSING = "channel_closing"
    CHANNEL_SETTLED = "channel_settled"
    CHANNEL_TOPPED_UP = "channel_topped_up"
    TRANSFER = "transfer"
    CREDIT = "credit"
    WITHDRAWAL_REQUESTED = "withdrawal_requested"
    WITHDRAWAL_PAID = "withdrawal_paid"
    WITHDRAWAL_FAILED = "withdrawal_failed"
    FAUCET_GRANT = "faucet_grant"
