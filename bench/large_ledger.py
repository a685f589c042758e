"""Fill a migrated PostgreSQL ledger database with a large, balanced history in bulk SQL.

accounts      every account holds its deposit, less what it locked in channels
deposits      one credited deposit per account
channels      open, two accounts each, expiring in 30 days (not due for the sweeper)
journal       one deposit row per account, one open row per channel, the rest transfers in
              pairs that cancel (a -> b, then b -> a), so balances stay as above
events        one per operation, as the ledger writes them

Rows are made server-side with generate_series (no client round trip per row). Indexes and
key constraints of the filled tables are dropped first and rebuilt once at the end, which is
far faster than maintaining them row by row. The result passes the ledger's `Audit`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url

DEPOSIT = 1_000_000_000
CHANNEL_DEPOSIT = 1_000
FILLED = ("accounts", "deposits", "channels", "journal", "events")

# An account id that looks like a TRON address (34 characters, 'T' first), spread evenly.
ACCOUNT = "('T' || substr(md5('a' || ({0})::text), 1, 33))"
CHANNEL_ID = "decode(md5('c' || ({0})::text) || md5('d' || ({0})::text), 'hex')"


@dataclass(frozen=True, slots=True)
class Size:
    accounts: int = 1_000_000
    channels: int = 100_000
    journal: int = 10_000_000

    @property
    def transfers(self) -> int:
        """Journal rows left for transfers after deposits and opens (an even number)."""
        left = self.journal - self.accounts - self.channels
        return max(0, left - left % 2)

    def check(self) -> None:
        if self.channels * 2 > self.accounts:
            raise ValueError("need at least two accounts per channel")


def series(count: int, name: str) -> str:
    return f"generate_series(0::bigint, {count - 1}) AS {name}"


def _dsn(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


def _keys_and_indexes(conn: psycopg.Connection, table: str) -> tuple[list[str], list[str]]:
    """(DROP statements, CREATE statements) for the table's key constraints and indexes."""
    drops, creates = [], []
    for name, definition in conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        (table,),
    ):
        drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        (table,),
    ):
        drops.append(f'DROP INDEX "{name}"')
        creates.append(definition)
    return drops, creates


def fill(db_url: str, size: Size, *, at: int, log: bool = True) -> dict[str, float]:
    """Load `size` into the (empty, migrated) database; returns seconds per step."""
    size.check()
    n, c, t = size.accounts, size.channels, size.transfers
    payer, payee = ACCOUNT.format("2 * k"), ACCOUNT.format("2 * k + 1")
    # Transfer pair p moves 1 unit from a to b and back; a and b differ and spread over all ids.
    a = ACCOUNT.format(f"(m / 2) % {n}")
    b = ACCOUNT.format(f"((m / 2) % {n} + 1 + ((m / 2) * 7919) % {n - 1}) % {n}")
    source = f"CASE WHEN m % 2 = 0 THEN {a} ELSE {b} END"
    target = f"CASE WHEN m % 2 = 0 THEN {b} ELSE {a} END"
    steps = [
        (
            "accounts",
            f"INSERT INTO accounts (account_id, balance, nonce, created_at) "
            f"SELECT {ACCOUNT.format('i')}, "
            f"{DEPOSIT} - CASE WHEN i < {2 * c} AND i % 2 = 0 THEN {CHANNEL_DEPOSIT} ELSE 0 END, "
            f"0, {at} FROM {series(n, 'i')}",
        ),
        (
            "deposits",
            f"INSERT INTO deposits (txid, contract_index, account_id, amount, tron_from, "
            f"credited_at) SELECT md5('t' || i::text) || md5('u' || i::text), 0, "
            f"{ACCOUNT.format('i')}, {DEPOSIT}, {ACCOUNT.format('i')}, {at} "
            f"FROM {series(n, 'i')}",
        ),
        (
            "channels",
            f"INSERT INTO channels (channel_id, payer, payee, deposit, expiry, status, opened_at, "
            f"best_nonce, best_cumulative, best_signature, close_deadline, topup_sequence, "
            f"refund_signature, paid_to_payee, refunded_to_payer, settle_reason, settled_at, "
            f"due_at) SELECT {CHANNEL_ID.format('k')}, {payer}, {payee}, {CHANNEL_DEPOSIT}, "
            f"{at + 30 * 86400}, 'open', {at}, 0, 0, ''::bytea, 0, 0, "
            f"decode(repeat('00', 65), 'hex'), 0, 0, NULL, 0, {at + 30 * 86400} "
            f"FROM {series(c, 'k')}",
        ),
        (
            "journal: deposits",
            f"INSERT INTO journal (at, op, source_kind, source_key, target_kind, target_key, "
            f"amount, reference) SELECT {at}, 'deposit', 'chain', 'deposits', 'account', "
            f"{ACCOUNT.format('i')}, {DEPOSIT}, md5('t' || i::text) || md5('u' || i::text) "
            f"|| ':0' FROM {series(n, 'i')}",
        ),
        (
            "journal: opens",
            f"INSERT INTO journal (at, op, source_kind, source_key, target_kind, target_key, "
            f"amount, reference) SELECT {at}, 'open', 'account', {payer}, 'escrow', "
            f"encode({CHANNEL_ID.format('k')}, 'hex'), {CHANNEL_DEPOSIT}, "
            f"encode({CHANNEL_ID.format('k')}, 'hex') FROM {series(c, 'k')}",
        ),
        (
            "journal: transfers",
            f"INSERT INTO journal (at, op, source_kind, source_key, target_kind, target_key, "
            f"amount, reference) SELECT {at}, 'transfer', 'account', {source}, 'account', "
            f"{target}, 1, 'nonce:' || m::text FROM {series(t, 'm')}",
        ),
        (
            "events",
            # Committed and numbered, as the event stream leaves them: positions 1, 2, ...
            f"INSERT INTO events (position, at, kind, account_a, account_b, channel_id, amount, "
            f"reference) SELECT i + 1, {at}, 'credit', {ACCOUNT.format('i')}, NULL, NULL, "
            f"{DEPOSIT}, md5('t' || i::text) || md5('u' || i::text) FROM {series(n, 'i')} "
            f"UNION ALL SELECT {n} + k + 1, {at}, 'channel_opened', {payer}, {payee}, "
            f"{CHANNEL_ID.format('k')}, {CHANNEL_DEPOSIT}, 'open' "
            f"FROM {series(c, 'k')} "
            f"UNION ALL SELECT {n + c} + m + 1, {at}, 'transfer', {source}, {target}, NULL, 1, "
            f"'' FROM {series(t, 'm')}",
        ),
    ]
    timings: dict[str, float] = {}

    def step(name: str, sql: str) -> None:
        start = time.perf_counter()
        conn.execute(sql)
        timings[name] = round(time.perf_counter() - start, 1)
        if log:
            print(f"  large ledger: {name:24} {timings[name]:>7.1f} s", flush=True)

    with psycopg.connect(_dsn(db_url), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")  # the load only; its end is checkpointed
        rebuild: list[str] = []
        for table in FILLED:
            drops, creates = _keys_and_indexes(conn, table)
            for statement in drops:
                conn.execute(statement)
            rebuild += creates
        for name, sql in steps:
            step(name, sql)
        step("keys and indexes", "; ".join(rebuild))
        if conn.execute("SELECT to_regclass('journal_totals')").fetchone() != (None,):
            # The journal's running totals, as the ledger keeps them (stripe 0 holds the load).
            accounts, escrow = n * DEPOSIT - c * CHANNEL_DEPOSIT, c * CHANNEL_DEPOSIT
            step(
                "journal totals",
                f"UPDATE journal_totals SET account_net = account_net + {accounts}, "
                f"escrow_net = escrow_net + {escrow}, entries = entries + {n + c + t} "
                "WHERE stripe = 0",
            )
        for table in FILLED:
            step(f"vacuum analyze {table}", f"VACUUM ANALYZE {table}")
        step("checkpoint", "CHECKPOINT")
    return timings
