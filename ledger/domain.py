"""Domain values of the ledger: accounts, channels, withdrawals, events and the audit totals.

Amounts, ids, statuses and rejection reasons are shared with the clients, in core.

Nothing here does I/O or knows about protobuf or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.status import ChannelStatus, EventKind, SettleReason, WithdrawalStatus
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


@dataclass(frozen=True, slots=True)
class Withdrawal:
    withdrawal_id: int
    account_id: str
    tron_address: str
    amount: Amount
    status: WithdrawalStatus
    txid: str
    failure_reason: str
    requested_at: Timestamp
    updated_at: Timestamp


@dataclass(frozen=True, slots=True)
class Event:
    event_id: int
    at: Timestamp
    kind: EventKind
    accounts: tuple[str, ...]
    channel_id: bytes | None
    amount: Amount
    reference: str


@dataclass(frozen=True, slots=True)
class Totals:
    account_balances: int
    channel_escrow: int
    pending_withdrawals: int
    deposits_credited: int
    withdrawals_paid: int
    journal_entries: int
    # Per liability kind, what the journal says the bucket holds (inflows - outflows).
    journal_account: int
    journal_escrow: int
    journal_pending: int
