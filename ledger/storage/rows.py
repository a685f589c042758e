"""SQL statements and row mapping shared by the transaction's repositories (Tx) and batches."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from core.status import ChannelStatus, EventKind, SettleReason, WithdrawalStatus
from core.types import Amount, ChannelId, Nonce, Timestamp
from ledger.domain import Channel, Withdrawal
from ledger.protocol import Movement, due_at
from ledger.storage import schema as t
from ledger.storage.notify import EVENTS_CHANNEL

# The advisory lock that lets one numbering of events run at a time ("btt-evt" as a number).
EVENT_NUMBERING_LOCK = int.from_bytes(b"btt-evt", "big")


def _insert_ignore(conn: Connection, table: t.Table, rows: list[dict[str, object]]) -> int:
    """INSERT that skips rows whose key exists; returns how many rows were inserted."""
    dialect = conn.dialect.name
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported stores exist
        raise RuntimeError(f"unsupported database {dialect}")
    if len(rows) == 1:
        # RETURNING, since rowcount is not reported for ON CONFLICT by every driver.
        returning = stmt.values(rows[0]).returning(*table.primary_key.columns)
        return len(conn.execute(returning).all())
    conn.execute(stmt, rows)
    return -1


def _exact_sum(conn: Connection, column: ColumnElement[int], *where: ColumnElement[bool]) -> int:
    """SUM of a non-negative BIGINT column that cannot overflow on either store.

    SQLite's SUM raises on a 64-bit overflow (a journal's lifetime inflow can pass it), so the
    high and low 32 bits are summed apart and joined here: exact up to 2^31 rows.
    """
    high = func.coalesce(func.sum(column.op(">>")(literal_column("32"))), 0)
    low = func.coalesce(func.sum(column.op("&")(literal_column("4294967295"))), 0)
    row = conn.execute(select(high, low).where(*where)).one()
    return (int(row[0]) << 32) + int(row[1])


def _channel_from_row(row: object) -> Channel:
    r = row._mapping  # type: ignore[attr-defined]
    return Channel(
        channel_id=ChannelId(bytes(r["channel_id"])),
        payer=r["payer"],
        payee=r["payee"],
        deposit=Amount(r["deposit"]),
        expiry=Timestamp(r["expiry"]),
        status=ChannelStatus(r["status"]),
        opened_at=Timestamp(r["opened_at"]),
        best_nonce=Nonce(r["best_nonce"]),
        best_cumulative=Amount(r["best_cumulative"]),
        best_signature=bytes(r["best_signature"]),
        close_deadline=Timestamp(r["close_deadline"]),
        topup_sequence=r["topup_sequence"],
        refund_signature=bytes(r["refund_signature"]),
        paid_to_payee=Amount(r["paid_to_payee"]),
        refunded_to_payer=Amount(r["refunded_to_payer"]),
        settle_reason=SettleReason(r["settle_reason"]) if r["settle_reason"] else None,
        settled_at=Timestamp(r["settled_at"]),
    )


def _channel_values(c: Channel) -> dict[str, object]:
    return {
        "channel_id": c.channel_id,
        "payer": c.payer,
        "payee": c.payee,
        "deposit": c.deposit,
        "expiry": c.expiry,
        "status": c.status.value,
        "opened_at": c.opened_at,
        "best_nonce": c.best_nonce,
        "best_cumulative": c.best_cumulative,
        "best_signature": c.best_signature,
        "close_deadline": c.close_deadline,
        "topup_sequence": c.topup_sequence,
        "refund_signature": c.refund_signature,
        "paid_to_payee": c.paid_to_payee,
        "refunded_to_payer": c.refunded_to_payer,
        "settle_reason": c.settle_reason.value if c.settle_reason else None,
        "settled_at": c.settled_at,
        "due_at": due_at(c),
    }


def _withdrawal_from_row(row: object) -> Withdrawal:
    r = row._mapping  # type: ignore[attr-defined]
    return Withdrawal(
        withdrawal_id=r["withdrawal_id"],
        account_id=r["account_id"],
        tron_address=r["tron_address"],
        amount=Amount(r["amount"]),
        status=WithdrawalStatus(r["status"]),
        txid=r["txid"],
        failure_reason=r["failure_reason"],
        requested_at=Timestamp(r["requested_at"]),
        updated_at=Timestamp(r["updated_at"]),
    )


# Hot-path statements, built once: constructing SQLAlchemy statements per call costs more than
# the database round trip they make.
_ADD_BALANCE = (
    update(t.accounts)
    .where(t.accounts.c.account_id == bindparam("aid"))
    .values(balance=t.accounts.c.balance + bindparam("delta"))
)
_ADD_BALANCE_SET_NONCE = _ADD_BALANCE.values(nonce=bindparam("nonce"))
_INSERT_JOURNAL = insert(t.journal)
_INSERT_JOURNAL_RETURNING = insert(t.journal).returning(t.journal.c.entry_id)
_INSERT_EVENT = insert(t.events)
_LAST_POSITION = select(func.coalesce(func.max(t.events.c.position), 0))
_INSERT_EVENT_NUMBERED = insert(t.events).values(position=_LAST_POSITION.scalar_subquery() + 1)
_LOCK_NUMBERING = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=EVENT_NUMBERING_LOCK)
_NUMBER_EVENTS = text(
    """
    WITH pending AS (
        SELECT event_id, row_number() OVER (ORDER BY event_id) AS n
        FROM events WHERE position IS NULL ORDER BY event_id LIMIT :limit
    ), top AS (SELECT coalesce(max(position), 0) AS last FROM events)
    UPDATE events SET position = top.last + pending.n
    FROM pending, top WHERE events.event_id = pending.event_id
    RETURNING events.position
    """
)
_NOTIFY_EVENTS = text("SELECT pg_notify(:channel, '')").bindparams(channel=EVENTS_CHANNEL)
_INSERT_REQUEST = insert(t.applied_requests)
_SELECT_REQUEST = select(t.applied_requests.c.kind, t.applied_requests.c.reply).where(
    t.applied_requests.c.digest == bindparam("digest")
)
_SELECT_CHANNEL = select(t.channels).where(t.channels.c.channel_id == bindparam("cid"))


class _Many:
    """A statement over a list of keys: `IN (...)` with one parameter per key, or on
    PostgreSQL `= ANY(...)` with the list as one array (a batch names hundreds of keys, and the
    statement text then stays the same whatever their number)."""

    def __init__(self, make: Callable[[ColumnElement[bool]], Select[Any]], column: Column[Any]):
        self.portable = make(column.in_(bindparam("keys", expanding=True)))
        self.postgresql = make(column == func.any(bindparam("keys")))

    def of(self, conn: Connection) -> Select[Any]:
        return self.postgresql if conn.dialect.name == "postgresql" else self.portable


_SELECT_ACCOUNTS = _Many(
    lambda where: (
        select(t.accounts.c.account_id, t.accounts.c.balance, t.accounts.c.nonce)
        .where(where)
        .order_by(t.accounts.c.account_id)
    ),
    t.accounts.c.account_id,
)
_SELECT_ACCOUNTS_LOCKED = _Many(
    lambda where: (
        select(t.accounts.c.account_id, t.accounts.c.balance, t.accounts.c.nonce)
        .where(where)
        .order_by(t.accounts.c.account_id)
        .with_for_update()
    ),
    t.accounts.c.account_id,
)
_SELECT_REQUESTS = _Many(
    lambda where: select(
        t.applied_requests.c.digest, t.applied_requests.c.kind, t.applied_requests.c.reply
    ).where(where),
    t.applied_requests.c.digest,
)
_SELECT_CHANNELS = _Many(
    lambda where: select(t.channels).where(where).order_by(t.channels.c.channel_id),
    t.channels.c.channel_id,
)
_SELECT_CHANNELS_LOCKED = _Many(
    lambda where: (
        select(t.channels).where(where).order_by(t.channels.c.channel_id).with_for_update()
    ),
    t.channels.c.channel_id,
)
_SELECT_CHANNEL_LOCKED = _SELECT_CHANNEL.with_for_update()
_INSERT_CHANNEL = insert(t.channels)
_UPDATE_CHANNEL = (
    update(t.channels)
    .where(t.channels.c.channel_id == bindparam("cid"))
    .values({c.name: bindparam(c.name) for c in t.channels.c if c.name != "channel_id"})
)


_ADD_JOURNAL_TOTALS = (
    update(t.journal_totals)
    .where(t.journal_totals.c.stripe == bindparam("s"))
    .values(
        account_net=t.journal_totals.c.account_net + bindparam("a"),
        escrow_net=t.journal_totals.c.escrow_net + bindparam("e"),
        pending_net=t.journal_totals.c.pending_net + bindparam("p"),
        entries=t.journal_totals.c.entries + bindparam("n"),
    )
)
_NET_KINDS = ("account", "escrow", "pending")


def journal_nets(movements: Iterable[Movement]) -> tuple[int, int, int]:
    """What these movements add to the account, escrow and pending kinds in total."""
    nets = [0, 0, 0]
    for m in movements:
        if m.target.kind in _NET_KINDS:
            nets[_NET_KINDS.index(m.target.kind)] += m.amount
        if m.source.kind in _NET_KINDS:
            nets[_NET_KINDS.index(m.source.kind)] -= m.amount
    return nets[0], nets[1], nets[2]


class JournalIds:
    """PostgreSQL: journal entry ids taken from the journal's sequence a block at a time, so
    that a batch needs no round trip for them. Ids are unique and ascending within a process,
    not across processes (as those of concurrent single writes are not); a process that stops
    leaves the rest of its block unused, a gap like those a rolled-back nextval leaves."""

    BLOCK = 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._pid = os.getpid()

    def take(self, count: int, fetch: Callable[[int], list[int]]) -> list[int]:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker: the block is its parent's
                self._free, self._pid = [], os.getpid()
            if len(self._free) < count:
                self._free += fetch(max(count, self.BLOCK))
            taken, self._free = self._free[:count], self._free[count:]
            return taken


def event_row(
    kind: EventKind,
    *,
    at: Timestamp,
    accounts: Sequence[str],
    channel_id: bytes | None = None,
    amount: int = 0,
    reference: str = "",
) -> dict[str, object]:
    """The events table's row for one event (written singly by Tx, in bulk by batches)."""
    if not 1 <= len(accounts) <= 2:
        raise ValueError("an event concerns one or two accounts")
    return {
        "at": at,
        "kind": kind.value,
        "account_a": accounts[0],
        "account_b": accounts[1] if len(accounts) > 1 else None,
        "channel_id": channel_id,
        "amount": amount,
        "reference": reference,
    }
