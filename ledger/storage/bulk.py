"""The writes of many operations in one transaction, sent as a few multi-row statements.

A batch decides its operations one by one against rows it locked up front, and records what
each changes here instead of writing it at once: balance changes add up per account, channels
keep their last state, journal rows, accepted states, events and request results queue in order.
`flush` then writes each kind with one statement, whatever the batch's size. The effect is that of
the same operations written one after the other.

Journal entry ids are reserved before the rows are written (`Tx.reserve_journal_ids`), so results
that name them can be stored in the same flush. On PostgreSQL each kind of row goes in one
statement over arrays (`unnest`); elsewhere as an executemany of the single-row statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, update

from core.status import EventKind
from core.types import Nonce, Timestamp
from ledger.domain import Channel
from ledger.protocol import Movement
from ledger.storage import schema as t
from ledger.storage.rows import _channel_values, _insert_ignore, event_row, journal_nets
from ledger.storage.tx import Tx

_SET_BALANCE_AND_NONCE = (
    update(t.accounts)
    .where(t.accounts.c.account_id == bindparam("aid"))
    .values(balance=t.accounts.c.balance + bindparam("delta"), nonce=bindparam("nonce"))
)
_UPDATE_CHANNEL = (
    update(t.channels)
    .where(t.channels.c.channel_id == bindparam("cid"))
    .values({c.name: bindparam(c.name) for c in t.channels.c if c.name != "channel_id"})
)
_JOURNAL_COLUMNS = (
    "entry_id",
    "at",
    "op",
    "source_kind",
    "source_key",
    "target_kind",
    "target_key",
    "amount",
    "reference",
)
_EVENT_COLUMNS = ("at", "kind", "account_a", "account_b", "channel_id", "amount", "reference")
_REQUEST_COLUMNS = ("digest", "kind", "reply", "at")

# PostgreSQL: every kind of row in one statement (data-modifying CTEs over arrays, one round trip
# for the whole batch), the columns passed as arrays in binary (%b: no text escaping of each
# value; the stored results are JSON, full of quotes). Each table's parameters are prefixed with
# its name, since column names repeat across tables.
_PG_BALANCES = (
    "UPDATE accounts SET balance = accounts.balance + v.delta, nonce = v.nonce "
    "FROM unnest(%(a_aid)b::text[], %(a_delta)b::bigint[], %(a_nonce)b::bigint[]) "
    "AS v(aid, delta, nonce) WHERE accounts.account_id = v.aid"
)
_PG_TOTALS = (
    "UPDATE journal_totals SET account_net = account_net + %(t_a)s, "
    "escrow_net = escrow_net + %(t_e)s, pending_net = pending_net + %(t_p)s, "
    "entries = entries + %(t_n)s WHERE stripe = %(t_s)s"
)


def _pg_insert(table: str, prefix: str, columns: Sequence[str], types: Sequence[str]) -> str:
    arrays = ", ".join(f"%({prefix}{c})b::{ty}[]" for c, ty in zip(columns, types, strict=True))
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


_PG_JOURNAL = _pg_insert(
    "journal",
    "j_",
    _JOURNAL_COLUMNS,
    ("bigint", "bigint", "text", "text", "text", "text", "text", "bigint", "text"),
)
_PG_EVENTS = _pg_insert(
    "events", "e_", _EVENT_COLUMNS, ("bigint", "text", "text", "text", "bytea", "bigint", "text")
)
_PG_REQUESTS = _pg_insert(
    "applied_requests", "r_", _REQUEST_COLUMNS, ("bytea", "text", "text", "bigint")
)


def _one_statement(statements: Sequence[str]) -> str:
    """PostgreSQL: several independent writes as one statement (`WITH w1 AS (...) last`)."""
    *first, last = statements
    if not first:
        return last
    return "WITH " + ", ".join(f"w{i} AS ({s})" for i, s in enumerate(first)) + " " + last


def _columns(
    rows: list[dict[str, object]], names: Sequence[str], prefix: str = ""
) -> dict[str, list[object]]:
    return {prefix + name: [row[name] for row in rows] for name in names}


@dataclass
class BulkWrites:
    # account id -> (balance change, nonce after); every account a posting touches.
    accounts: dict[str, tuple[int, int]] = field(default_factory=dict)
    channels: dict[bytes, Channel] = field(default_factory=dict)
    journal: list[dict[str, object]] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)
    states: list[dict[str, object]] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)
    requests: list[dict[str, object]] = field(default_factory=list)

    def post(
        self,
        movements: Sequence[Movement],
        *,
        op: str,
        reference: str,
        at: Timestamp,
        nonces: dict[str, Nonce],
    ) -> int | None:
        """Queue journal rows and balance changes, as `Tx.post` writes them. `nonces` holds the
        nonce after this posting of every account the movements touch. Returns the position of
        the last row; `reserve_entry_ids` gives it its entry id."""
        self.movements.extend(movements)
        for m in movements:
            for bucket, sign in ((m.source, -1), (m.target, 1)):
                if bucket.kind == "account":
                    delta, _ = self.accounts.get(bucket.key, (0, 0))
                    self.accounts[bucket.key] = (delta + sign * m.amount, nonces[bucket.key])
            self.journal.append(
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
            )
        return len(self.journal) - 1 if movements else None

    def reserve_entry_ids(self, tx: Tx) -> list[int]:
        """Give every queued journal row its entry id; returns them in posting order."""
        ids = tx.reserve_journal_ids(len(self.journal))
        for row, entry_id in zip(self.journal, ids, strict=True):
            row["entry_id"] = entry_id
        return ids

    def update_channel(self, channel: Channel) -> None:
        self.channels[channel.channel_id] = channel

    def record_state(
        self, channel_id: bytes, nonce: int, cumulative: int, signature: bytes, at: Timestamp
    ) -> None:
        self.states.append(
            {
                "channel_id": channel_id,
                "nonce": nonce,
                "cumulative": cumulative,
                "signature": signature,
                "accepted_at": at,
            }
        )

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
        self.events.append(
            event_row(
                kind,
                at=at,
                accounts=accounts,
                channel_id=channel_id,
                amount=amount,
                reference=reference,
            )
        )

    def record_request(self, digest: bytes, kind: str, reply: str, at: Timestamp) -> None:
        self.requests.append({"digest": digest, "kind": kind, "reply": reply, "at": at})

    def flush(self, tx: Tx) -> None:
        """Write everything queued (entry ids reserved first, when there are journal rows)."""
        conn = tx.conn
        if self.channels:
            rows = []
            for channel in self.channels.values():
                values = _channel_values(channel)
                values["cid"] = values.pop("channel_id")
                rows.append(values)
            conn.execute(_UPDATE_CHANNEL, rows)
        if self.states:
            _insert_ignore(conn, t.channel_states, self.states)
        if self.events:
            tx.wrote_events = True
        if conn.dialect.name == "postgresql":
            self._flush_postgresql(tx)
            return
        if self.accounts:
            conn.execute(
                _SET_BALANCE_AND_NONCE,
                [{"aid": a, "delta": d, "nonce": n} for a, (d, n) in sorted(self.accounts.items())],
            )
        if self.events and tx.conn.dialect.name == "sqlite":
            # One writer: stream positions are given as events commit (see schema); other
            # engines number them after commit, as PostgreSQL does.
            last = tx.last_event_id()
            for n, row in enumerate(self.events, start=1):
                row["position"] = last + n
        for rows, table in (
            (self.journal, t.journal),
            (self.events, t.events),
            (self.requests, t.applied_requests),
        ):
            if rows:
                conn.execute(insert(table), rows)
        if self.movements:
            tx.add_journal_totals(self.movements)

    def _flush_postgresql(self, tx: Tx) -> None:
        """Balances, journal rows, events, results and running totals in one statement
        (events are numbered after commit, see schema)."""
        statements: list[str] = []
        params: dict[str, object] = {}
        if self.accounts:
            ordered = sorted(self.accounts.items())
            statements.append(_PG_BALANCES)
            params["a_aid"] = [aid for aid, _ in ordered]
            params["a_delta"] = [delta for _, (delta, _) in ordered]
            params["a_nonce"] = [nonce for _, (_, nonce) in ordered]
        for rows, columns, prefix, statement in (
            (self.journal, _JOURNAL_COLUMNS, "j_", _PG_JOURNAL),
            (self.events, _EVENT_COLUMNS, "e_", _PG_EVENTS),
            (self.requests, _REQUEST_COLUMNS, "r_", _PG_REQUESTS),
        ):
            if rows:
                statements.append(statement)
                params.update(_columns(rows, columns, prefix))
        if self.movements:
            a, e, p = journal_nets(self.movements)
            statements.append(_PG_TOTALS)
            params.update(t_a=a, t_e=e, t_p=p, t_n=len(self.movements), t_s=tx.totals_stripe())
        if statements:
            tx.conn.exec_driver_sql(_one_statement(statements), params)
