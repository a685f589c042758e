"""What every use case of the ledger shares: at-most-once requests, conflicts, the audit, the bell.

A signed request's result is kept under its digest (`Once`) with the codec of its reply; a lock
conflict means the transaction rolled back and may run again; `AuditReport` reads the books.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from core.status import ChannelStatus, EventKind
from ledger.domain import Account, Channel, Totals, Withdrawal
from ledger.protocol import ChannelTransition
from ledger.storage.replies import ReplyCodec, dump, load, record_codec

T = TypeVar("T")

# PostgreSQL: serialization_failure, deadlock_detected. SQLite: "database is locked".
_CONFLICT_SQLSTATES = {"40001", "40P01"}


def lock_conflict(exc: DBAPIError) -> bool:
    """A lock conflict: the transaction rolled back and may simply be run again."""
    if getattr(exc.orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


@dataclass(frozen=True, slots=True)
class Once(Generic[T]):
    """A signed request that may take effect only once: its digest, and how its result is kept."""

    digest: bytes
    kind: str
    codec: ReplyCodec[T]


CHANNEL_REPLY: ReplyCodec[Channel] = record_codec(Channel)
WITHDRAWAL_REPLY: ReplyCodec[Withdrawal] = record_codec(Withdrawal)
TRANSFER_REPLY: ReplyCodec[tuple[Account, int]] = ReplyCodec(
    lambda r: {"account": dump(r[0]), "entry_id": r[1]},
    lambda d: (load(Account, d["account"]), int(d["entry_id"])),
)


def _once(digest: bytes | None, kind: str, codec: ReplyCodec[T]) -> Once[T] | None:
    return Once(digest, kind, codec) if digest else None


def channel_event_amount(after: Channel, event: EventKind) -> int:
    """The figure a subscriber cares about: what the payee got, its best state, or the deposit."""
    if after.status is ChannelStatus.SETTLED:
        return after.paid_to_payee
    if event is EventKind.CHANNEL_UPDATED:
        return after.best_cumulative
    return after.deposit


def state_to_record(t: ChannelTransition) -> bool:
    """Whether the transition accepted a new best payer-signed state, kept in channel_states."""
    after = t.after
    return bool(after.best_nonce) and (t.before is None or t.before.best_nonce != after.best_nonce)


@dataclass(frozen=True, slots=True)
class AuditReport:
    totals: Totals

    @property
    def liabilities(self) -> int:
        t = self.totals
        return t.account_balances + t.channel_escrow + t.pending_withdrawals

    @property
    def journal_imbalance(self) -> int:
        """Journal-derived liabilities minus what the rows hold; zero when the books agree."""
        t = self.totals
        from_journal = t.journal_account + t.journal_escrow + t.journal_pending
        return from_journal - self.liabilities

    @property
    def balanced(self) -> bool:
        t = self.totals
        return (
            self.liabilities == t.deposits_credited - t.withdrawals_paid
            and t.journal_account == t.account_balances
            and t.journal_escrow == t.channel_escrow
            and t.journal_pending == t.pending_withdrawals
        )


class EventBell:
    """Wakes waiting subscribers after a commit that wrote events (thread-safe)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def ring(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback()
