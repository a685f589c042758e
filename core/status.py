"""Statuses shared by the ledger, its clients and the bridge: one enum per concept."""

from __future__ import annotations

import enum


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
