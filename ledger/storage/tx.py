"""The repositories of one database transaction (the unit of work's reads and writes).

`Tx` reads rows (locking them on PostgreSQL with SELECT ... FOR UPDATE, in a fixed order; SQLite
holds the whole-database write lock from BEGIN IMMEDIATE) and writes the decision. Repositories
never commit: the transaction block of `Store` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    Connection,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)

from core.status import ChannelStatus, EventKind, WithdrawalStatus
from core.types import Amount, Nonce, Timestamp
from ledger.domain import Account, Channel, Event, Totals, Withdrawal
from ledger.faucet import Grant
from ledger.protocol import Movement
from ledger.storage import schema as t
from ledger.storage.rows import (
    _ADD_BALANCE,
    _ADD_BALANCE_SET_NONCE,
    _ADD_JOURNAL_TOTALS,
    _INSERT_CHANNEL,
    _INSERT_EVENT,
    _INSERT_EVENT_NUMBERED,
    _INSERT_JOURNAL,
    _INSERT_JOURNAL_RETURNING,
    _INSERT_REQUEST,
    _LAST_POSITION,
    _LOCK_NUMBERING,
    _NOTIFY_EVENTS,
    _NUMBER_EVENTS,
    _SELECT_ACCOUNTS,
    _SELECT_ACCOUNTS_LOCKED,
    _SELECT_CHANNEL,
    _SELECT_CHANNEL_LOCKED,
    _SELECT_CHANNELS,
    _SELECT_CHANNELS_LOCKED,
    _SELECT_REQUEST,
    _SELECT_REQUESTS,
    _UPDATE_CHANNEL,
    JournalIds,
    _channel_from_row,
    _channel_values,
    _exact_sum,
    _insert_ignore,
    _withdrawal_from_row,
    event_row,
    journal_nets,
)


class Tx:
    """Reads and writes inside one transaction."""

    def __init__(
        self, conn: Connection, *, lock: bool, journal_ids: JournalIds | None = None
    ) -> None:
        self.conn = conn
        self.lock = lock
        self.journal_ids = journal_ids
        self.wrote_events = False  # subscribers have news once this commits

    # ------------------------------------------------------------ meta
    def meta(self, key: str) -> str | None:
        return self.conn.execute(
            select(t.ledger_meta.c.value).where(t.ledger_meta.c.key == key)
        ).scalar_one_or_none()

    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` unless the key already has one; return what is stored."""
        _insert_ignore(self.conn, t.ledger_meta, [{"key": key, "value": value}])
        stored = self.meta(key)
        assert stored is not None
        return stored

    # ------------------------------------------------------------ accounts
    def accounts(
        self, ids: Iterable[str], *, create_at: Timestamp | None = None
    ) -> dict[str, Account]:
        """Load (and lock, in id order) the accounts; create missing ones when `create_at`."""
        wanted = sorted(set(ids))
        found = self._select_accounts(wanted)
        missing = [a for a in wanted if a not in found]
        if missing and create_at is not None:
            _insert_ignore(
                self.conn,
                t.accounts,
                [
                    {"account_id": a, "balance": 0, "nonce": 0, "created_at": create_at}
                    for a in missing
                ],
            )
            found.update(self._select_accounts(missing))
        return found

    def _select_accounts(self, wanted: list[str]) -> dict[str, Account]:
        q = (_SELECT_ACCOUNTS_LOCKED if self.lock else _SELECT_ACCOUNTS).of(self.conn)
        return {
            r.account_id: Account(r.account_id, Amount(r.balance), Nonce(r.nonce))
            for r in self.conn.execute(q, {"keys": wanted})
        }

    # ------------------------------------------------------------ money
    def post(
        self,
        movements: Sequence[Movement],
        *,
        op: str,
        reference: str,
        at: Timestamp,
        nonces: dict[str, int] | None = None,
    ) -> int | None:
        """Write the journal rows and apply them to account balances; returns the last entry id.

        Escrow is held on the channel row and pending withdrawals on theirs: callers update those
        rows themselves, the journal records every move either way. `nonces` records accounts'
        last used nonces in the same statement as their balance (one round trip fewer).
        """
        if not movements:
            return None
        deltas: dict[str, int] = {}
        for m in movements:
            if m.source.kind == "account":
                deltas[m.source.key] = deltas.get(m.source.key, 0) - m.amount
            if m.target.kind == "account":
                deltas[m.target.key] = deltas.get(m.target.key, 0) + m.amount
        nonces = nonces or {}
        for account_id, delta in sorted(deltas.items()):
            if account_id in nonces:
                self.conn.execute(
                    _ADD_BALANCE_SET_NONCE,
                    {"aid": account_id, "delta": delta, "nonce": nonces[account_id]},
                )
            elif delta:
                self.conn.execute(_ADD_BALANCE, {"aid": account_id, "delta": delta})
        rows = [
            {
                "at": at,
                "op": op,
                "source_kind": m.source.kind,
                "source_key": m.source.key,
                "target_kind": m.target.kind,
                "target_key": m.target.key,
                "amount": m.amount,
                "reference": reference,
            }
            for m in movements
        ]
        if len(rows) > 1:
            self.conn.execute(_INSERT_JOURNAL, rows[:-1])
        self.add_journal_totals(movements)
        return int(self.conn.execute(_INSERT_JOURNAL_RETURNING, rows[-1]).scalar_one())

    # ------------------------------------------------------------ channels
    def channel(self, channel_id: bytes) -> Channel | None:
        q = _SELECT_CHANNEL_LOCKED if self.lock else _SELECT_CHANNEL
        row = self.conn.execute(q, {"cid": channel_id}).first()
        return _channel_from_row(row) if row else None

    def channels(self, channel_ids: Iterable[bytes]) -> dict[bytes, Channel]:
        """Load (and lock, in id order) the channels that exist among these ids."""
        wanted = sorted(set(channel_ids))
        if not wanted:
            return {}
        q = (_SELECT_CHANNELS_LOCKED if self.lock else _SELECT_CHANNELS).of(self.conn)
        return {
            bytes(row.channel_id): _channel_from_row(row)
            for row in self.conn.execute(q, {"keys": wanted})
        }

    def insert_channel(self, channel: Channel) -> None:
        self.conn.execute(_INSERT_CHANNEL, _channel_values(channel))

    def update_channel(self, channel: Channel) -> None:
        values = _channel_values(channel)
        values["cid"] = values.pop("channel_id")
        self.conn.execute(_UPDATE_CHANNEL, values)

    def record_state(
        self, channel_id: bytes, nonce: int, cumulative: int, signature: bytes, at: Timestamp
    ) -> None:
        _insert_ignore(
            self.conn,
            t.channel_states,
            [
                {
                    "channel_id": channel_id,
                    "nonce": nonce,
                    "cumulative": cumulative,
                    "signature": signature,
                    "accepted_at": at,
                }
            ],
        )

    def list_channels(
        self, *, party: str, status: ChannelStatus | None, limit: int, after: bytes
    ) -> list[Channel]:
        q = select(t.channels).order_by(t.channels.c.channel_id).limit(limit)
        if party:
            q = q.where(or_(t.channels.c.payer == party, t.channels.c.payee == party))
        if status is not None:
            q = q.where(t.channels.c.status == status.value)
        if after:
            q = q.where(t.channels.c.channel_id > after)
        return [_channel_from_row(r) for r in self.conn.execute(q)]

    def due_channel_ids(self, now: Timestamp, limit: int) -> list[bytes]:
        q = (
            select(t.channels.c.channel_id)
            .where(and_(t.channels.c.due_at.is_not(None), t.channels.c.due_at <= now))
            .order_by(t.channels.c.due_at)
            .limit(limit)
        )
        return [bytes(r.channel_id) for r in self.conn.execute(q)]

    # ------------------------------------------------------------ events (outbox)
    def add_event(
        self,
        kind: EventKind,
        *,
        at: Timestamp,
        accounts: Sequence[str],
        channel_id: bytes | None = None,
        amount: int = 0,
        reference: str = "",
    ) -> None:
        values = event_row(
            kind,
            at=at,
            accounts=accounts,
            channel_id=channel_id,
            amount=amount,
            reference=reference,
        )
        numbered = self.conn.dialect.name == "sqlite"  # one writer: commit order is insert order
        self.conn.execute(_INSERT_EVENT_NUMBERED if numbered else _INSERT_EVENT, values)
        self.wrote_events = True

    def number_events(self, limit: int) -> int:
        """PostgreSQL: give committed, unnumbered events the next stream positions, in id order;
        tell the other ledger processes. Returns how many were numbered.

        Under a transaction-scoped advisory lock, so numberings run one at a time: each starts
        after the previous one committed, sees its positions, and continues above them. Rows of
        transactions still running are invisible here and get numbered by a later run: a reader
        of `position > cursor` never finds a gap filled behind it.
        """
        self.conn.execute(_LOCK_NUMBERING)
        count = len(self.conn.execute(_NUMBER_EVENTS, {"limit": limit}).all())
        if count:
            self.conn.execute(_NOTIFY_EVENTS)
        return count

    def events_after(
        self, position: int, limit: int, *, account: str = "", until: int | None = None
    ) -> list[Event]:
        """Numbered events after `position` (and up to `until`), in stream order; with `account`,
        only those that concern it."""
        q = select(t.events).where(t.events.c.position > position)
        if until is not None:
            q = q.where(t.events.c.position <= until)
        if account:
            q = q.where(or_(t.events.c.account_a == account, t.events.c.account_b == account))
        q = q.order_by(t.events.c.position).limit(limit)
        return [
            Event(
                event_id=r.position,
                at=Timestamp(r.at),
                kind=EventKind(r.kind),
                accounts=(r.account_a,) if r.account_b is None else (r.account_a, r.account_b),
                channel_id=bytes(r.channel_id) if r.channel_id is not None else None,
                amount=Amount(r.amount),
                reference=r.reference,
            )
            for r in self.conn.execute(q)
        ]

    def last_event_id(self) -> int:
        """The position of the latest numbered event (0 when there is none)."""
        return self.conn.execute(_LAST_POSITION).scalar_one()

    def channels_by_id(self, ids: Iterable[bytes]) -> dict[bytes, Channel]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.conn.execute(select(t.channels).where(t.channels.c.channel_id.in_(wanted)))
        return {bytes(r.channel_id): _channel_from_row(r) for r in rows}

    # ------------------------------------------------------------ applied requests
    def record_request(self, digest: bytes, kind: str, reply: str, at: Timestamp) -> None:
        """Remember the result of a request that took effect in this transaction."""
        self.conn.execute(
            _INSERT_REQUEST, {"digest": digest, "kind": kind, "reply": reply, "at": at}
        )

    def claim_request(self, digest: bytes, kind: str, at: Timestamp) -> None:
        """Take the request's digest before doing its work (its result is filled in later): a
        concurrent transaction holding the same digest makes this wait, then fail if it
        committed."""
        self.record_request(digest, kind, "", at)

    def complete_claim(self, digest: bytes, reply: str) -> None:
        self.conn.execute(
            update(t.applied_requests)
            .where(t.applied_requests.c.digest == digest)
            .values(reply=reply)
        )

    def applied_requests(self, digests: Iterable[bytes]) -> dict[bytes, tuple[str, str]]:
        """digest -> (kind, stored result) of those of these requests that took effect."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        return {
            bytes(r.digest): (r.kind, r.reply)
            for r in self.conn.execute(_SELECT_REQUESTS.of(self.conn), {"keys": wanted})
        }

    def applied_request(self, digest: bytes) -> tuple[str, str] | None:
        """(kind, stored result) of the request with this digest, if it took effect."""
        row = self.conn.execute(_SELECT_REQUEST, {"digest": digest}).first()
        return (row.kind, row.reply) if row else None

    # ------------------------------------------------------------ bridge
    def deposit_exists(self, txid: str, index: int) -> tuple[str, int] | None:
        row = self.conn.execute(
            select(t.deposits.c.account_id, t.deposits.c.amount).where(
                t.deposits.c.txid == txid, t.deposits.c.contract_index == index
            )
        ).first()
        return (row.account_id, row.amount) if row else None

    def insert_deposit(
        self, txid: str, index: int, account_id: str, amount: int, tron_from: str, at: Timestamp
    ) -> bool:
        """False when this (txid, index) is already there (a concurrent credit won)."""
        inserted = _insert_ignore(
            self.conn,
            t.deposits,
            [
                {
                    "txid": txid,
                    "contract_index": index,
                    "account_id": account_id,
                    "amount": amount,
                    "tron_from": tron_from,
                    "credited_at": at,
                }
            ],
        )
        return inserted == 1

    def insert_withdrawal(
        self, account_id: str, tron_address: str, amount: int, nonce: int, at: Timestamp
    ) -> Withdrawal:
        wid = self.conn.execute(
            insert(t.withdrawals)
            .values(
                account_id=account_id,
                tron_address=tron_address,
                amount=amount,
                status=WithdrawalStatus.PENDING.value,
                txid="",
                failure_reason="",
                requested_at=at,
                updated_at=at,
                requested_nonce=nonce,
            )
            .returning(t.withdrawals.c.withdrawal_id)
        ).scalar_one()
        w = self.withdrawal(wid)
        assert w is not None
        return w

    def withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        q = select(t.withdrawals).where(t.withdrawals.c.withdrawal_id == withdrawal_id)
        if self.lock:
            q = q.with_for_update()
        row = self.conn.execute(q).first()
        return _withdrawal_from_row(row) if row else None

    def update_withdrawal(
        self,
        withdrawal_id: int,
        *,
        status: WithdrawalStatus,
        txid: str,
        reason: str,
        at: Timestamp,
    ) -> None:
        self.conn.execute(
            update(t.withdrawals)
            .where(t.withdrawals.c.withdrawal_id == withdrawal_id)
            .values(status=status.value, txid=txid, failure_reason=reason, updated_at=at)
        )

    def list_withdrawals(
        self, *, status: WithdrawalStatus | None, limit: int, after: int, account: str = ""
    ) -> list[Withdrawal]:
        q = (
            select(t.withdrawals)
            .where(t.withdrawals.c.withdrawal_id > after)
            .order_by(t.withdrawals.c.withdrawal_id)
            .limit(limit)
        )
        if status is not None:
            q = q.where(t.withdrawals.c.status == status.value)
        if account:
            q = q.where(t.withdrawals.c.account_id == account)
        return [_withdrawal_from_row(r) for r in self.conn.execute(q)]

    def credit_totals(self) -> tuple[int, int]:
        """(deposits credited - withdrawals paid, deposits credited), for the supply cap.

        On PostgreSQL this first locks the ledger's meta row, so concurrent credits check the cap
        one after the other (SQLite's single writer already does).
        """
        if self.lock:
            self.conn.execute(
                select(t.ledger_meta.c.key)
                .where(t.ledger_meta.c.key == "ledger_id")
                .with_for_update()
            )
        credited = _exact_sum(self.conn, t.deposits.c.amount)
        paid = _exact_sum(
            self.conn, t.withdrawals.c.amount, t.withdrawals.c.status == WithdrawalStatus.PAID.value
        )
        return credited - paid, credited

    # ------------------------------------------------------------ faucet
    def faucet_grant(self, account_id: str) -> Grant | None:
        row = self.conn.execute(
            select(t.faucet_grants).where(t.faucet_grants.c.account_id == account_id)
        ).first()
        if row is None:
            return None
        return Grant(
            account=row.account_id,
            amount=Amount(row.amount),
            challenge_digest=bytes(row.challenge_digest),
            client=row.client,
            granted_at=Timestamp(row.granted_at),
        )

    def faucet_grants_since(self, client: str, since: Timestamp) -> int:
        return int(
            self.conn.execute(
                select(func.count())
                .select_from(t.faucet_grants)
                .where(t.faucet_grants.c.client == client, t.faucet_grants.c.granted_at > since)
            ).scalar_one()
        )

    def insert_faucet_grant(self, grant: Grant) -> None:
        self.conn.execute(
            insert(t.faucet_grants).values(
                account_id=grant.account,
                amount=grant.amount,
                challenge_digest=grant.challenge_digest,
                client=grant.client,
                granted_at=grant.granted_at,
            )
        )

    # ------------------------------------------------------------ audit
    def totals(self, *, recount: bool = False) -> Totals:
        """Row sums, and the journal's running totals (or, with `recount`, the journal counted
        row by row: slow on a large ledger, the offline check of the running totals)."""
        c = self.conn
        balances = _exact_sum(c, t.accounts.c.balance)
        escrow = _exact_sum(
            c, t.channels.c.deposit, t.channels.c.status != ChannelStatus.SETTLED.value
        )
        pending = _exact_sum(
            c, t.withdrawals.c.amount, t.withdrawals.c.status == WithdrawalStatus.PENDING.value
        )
        credited = _exact_sum(c, t.deposits.c.amount)
        paid = _exact_sum(
            c, t.withdrawals.c.amount, t.withdrawals.c.status == WithdrawalStatus.PAID.value
        )
        journal = self._journal_recount() if recount else self._journal_running_totals()
        entries, journal_account, journal_escrow, journal_pending = journal

        return Totals(
            account_balances=balances,
            channel_escrow=escrow,
            pending_withdrawals=pending,
            deposits_credited=credited,
            withdrawals_paid=paid,
            journal_entries=entries,
            journal_account=journal_account,
            journal_escrow=journal_escrow,
            journal_pending=journal_pending,
        )

    def _journal_running_totals(self) -> tuple[int, int, int, int]:
        """(rows, account, escrow, pending net) from the running totals' stripes, added up here:
        there are only JOURNAL_TOTAL_STRIPES rows, and Python's integers cannot overflow."""
        jt = t.journal_totals.c
        rows = self.conn.execute(
            select(jt.entries, jt.account_net, jt.escrow_net, jt.pending_net)
        ).all()
        entries, account, escrow, pending = (sum(int(r[i]) for r in rows) for i in range(4))
        return entries, account, escrow, pending

    def _journal_recount(self) -> tuple[int, int, int, int]:
        """(rows, account, escrow, pending net) counted over the whole journal."""
        c = self.conn

        def net(kind: str) -> int:
            inflow = _exact_sum(c, t.journal.c.amount, t.journal.c.target_kind == kind)
            outflow = _exact_sum(c, t.journal.c.amount, t.journal.c.source_kind == kind)
            return inflow - outflow

        entries = c.execute(select(func.count()).select_from(t.journal)).scalar_one()
        return int(entries), net("account"), net("escrow"), net("pending")

    def reserve_journal_ids(self, count: int) -> list[int]:
        """`count` fresh journal entry ids, ascending, for rows this transaction will write."""
        if count == 0:
            return []
        if self.conn.dialect.name == "postgresql":
            assert self.journal_ids is not None, "a read-only transaction writes no journal"
            return self.journal_ids.take(count, self._next_journal_ids)
        # SQLite: this transaction holds the database's one write lock, and a row id is
        # assigned as the largest so far plus one.
        last = self.conn.execute(select(func.coalesce(func.max(t.journal.c.entry_id), 0)))
        first = int(last.scalar_one()) + 1
        return list(range(first, first + count))

    def _next_journal_ids(self, count: int) -> list[int]:
        return [
            int(r[0])
            for r in self.conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('journal', 'entry_id')) "
                "FROM generate_series(1, %(n)s)",
                {"n": count},
            )
        ]

    def add_journal_totals(self, movements: Sequence[Movement]) -> None:
        """Keep the running journal totals in step with journal rows written in this
        transaction, on this connection's stripe."""
        if not movements:
            return
        nets = journal_nets(movements)
        self.conn.execute(
            _ADD_JOURNAL_TOTALS,
            {
                "s": self.totals_stripe(),
                "a": nets[0],
                "e": nets[1],
                "p": nets[2],
                "n": len(movements),
            },
        )

    def totals_stripe(self) -> int:
        """The row of `journal_totals` this transaction adds to."""
        if self.conn.dialect.name == "sqlite":
            # One writer at a time: one row, whose nets are the ledger's (within the supply cap,
            # so within SQLite's 64-bit integers).
            return 0
        # Concurrent writers spread over stripes. A stripe's nets drift apart from the total
        # (one stripe's settles, another's opens), so they are NUMERIC there.
        connection = self.conn.connection.dbapi_connection  # one transaction at a time
        return hash((os.getpid(), id(connection))) % t.JOURNAL_TOTAL_STRIPES
