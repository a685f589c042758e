"""Domain values of the ledger: accounts and channels (amounts, ids and reasons are in core).

Nothing here does I/O or knows about protobuf or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.status import ChannelStatus, SettleReason
from core.types import Amount, ChannelId, Nonce, Timestamp


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
