"""The ledger's tables (SQLAlchemy Core). The Alembic migrations in ledger/storage/migrations/
are generated from this.

Every balance change writes a journal row (source bucket -> target bucket) in the same
transaction as the balance, so balances can always be re-derived and audited.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only gives INTEGER PRIMARY KEY columns autoincrement; PostgreSQL wants BIGINT.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("balance >= 0", name="balance_non_negative"),
)

channels = Table(
    "channels",
    metadata,
    Column("channel_id", LargeBinary(32), primary_key=True),
    Column("payer", String(64), nullable=False, index=True),
    Column("payee", String(64), nullable=False, index=True),
    Column("deposit", BigInteger, nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("best_nonce", BigInteger, nullable=False),
    Column("best_cumulative", BigInteger, nullable=False),
    Column("best_signature", LargeBinary(65), nullable=False),
    Column("close_deadline", BigInteger, nullable=False),
    Column("topup_sequence", Integer, nullable=False),
    Column("refund_signature", LargeBinary(65), nullable=False),
    Column("paid_to_payee", BigInteger, nullable=False),
    Column("refunded_to_payer", BigInteger, nullable=False),
    Column("settle_reason", String(24), nullable=True),
    Column("settled_at", BigInteger, nullable=False),
    # When the sweeper must act (expiry or end of challenge window); NULL once settled.
    Column("due_at", BigInteger, nullable=True, index=True),
    CheckConstraint("deposit > 0", name="deposit_positive"),
    CheckConstraint(
        "best_cumulative >= 0 AND best_cumulative <= deposit", name="best_within_deposit"
    ),
)

# Every payer-signed state the ledger accepted (append-only; unique per channel and nonce).
channel_states = Table(
    "channel_states",
    metadata,
    Column("channel_id", LargeBinary(32), primary_key=True),
    Column("nonce", BigInteger, primary_key=True),
    Column("cumulative", BigInteger, nullable=False),
    Column("signature", LargeBinary(65), nullable=False),
    Column("accepted_at", BigInteger, nullable=False),
)

journal = Table(
    "journal",
    metadata,
    Column("entry_id", AutoId, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("op", String(32), nullable=False),
    Column("source_kind", String(16), nullable=False),
    Column("source_key", String(80), nullable=False),
    Column("target_kind", String(16), nullable=False),
    Column("target_key", String(80), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reference", String(160), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
)
Index("ix_journal_source", journal.c.source_kind, journal.c.source_key)
Index("ix_journal_target", journal.c.target_kind, journal.c.target_key)

deposits = Table(
    "deposits",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("contract_index", Integer, primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("tron_from", String(64), nullable=False),
    Column("credited_at", BigInteger, nullable=False),
)

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("withdrawal_id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("tron_address", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("txid", String(64), nullable=False),
    Column("failure_reason", Text, nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("requested_nonce", BigInteger, nullable=False),
    UniqueConstraint("account_id", "requested_nonce", name="account_nonce"),
)

# The outbox: events written in the same transaction as the change they describe.
#
# `position` is an event's place in the stream (its event id on the wire), given only to
# committed events, in the order they became visible: SQLite numbers them as they commit (one
# writer at a time); on PostgreSQL, where ids taken at INSERT become visible at COMMIT in another
# order, the event stream numbers committed rows afterwards, one numbering at a time.
events = Table(
    "events",
    metadata,
    Column("event_id", AutoId, primary_key=True, autoincrement=True),  # insertion order only
    Column("position", BigInteger, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("account_a", String(64), nullable=False),  # the accounts an event concerns (1 or 2)
    Column("account_b", String(64), nullable=True),
    Column("channel_id", LargeBinary(32), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("reference", String(160), nullable=False),
)
Index("ix_events_position", events.c.position, unique=True)
Index("ix_events_account_a", events.c.account_a, events.c.position)
Index("ix_events_account_b", events.c.account_b, events.c.position)
Index(
    "ix_events_unnumbered",
    events.c.event_id,
    postgresql_where=events.c.position.is_(None),
    sqlite_where=events.c.position.is_(None),
)

# The bridge's lease: one row (name "bridge"); holder "" when free.
bridge_lease = Table(
    "bridge_lease",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# Every signed payout tx of a withdrawal, recorded before its first broadcast (append-only).
payout_txs = Table(
    "payout_txs",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("withdrawal_id", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("expiration_ms", BigInteger, nullable=False),
    Column("signed_tx", LargeBinary, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    UniqueConstraint("withdrawal_id", "seq", name="withdrawal_seq"),
)

# Every state-changing request that took effect, by the digest of its exact signed bytes, with
# the result it was answered with: the same request sent again gets that answer and no second
# effect. Written in the transaction of the effect itself; kept for good, like the journal.
applied_requests = Table(
    "applied_requests",
    metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("reply", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)

# What the journal says each liability kind holds (inflows - outflows) and how many rows it has,
# kept up to date in the same transaction as the rows, so `Audit` needs no scan of the journal.
# Spread over stripes that concurrent transactions pick apart, so they never wait for each
# other on one hot row; the sums over all stripes are the totals. The full recount of the
# journal (`LedgerService.recount`) checks them offline.
# A stripe's nets can drift far from the totals (one stripe's settles, another's opens), past
# 64 bits over a ledger's life: NUMERIC on PostgreSQL. SQLite has one writer and uses stripe 0
# only, whose nets are the totals themselves (within the supply cap).
JOURNAL_TOTAL_STRIPES = 64
JournalNet = BigInteger().with_variant(Numeric(40, 0), "postgresql")
journal_totals = Table(
    "journal_totals",
    metadata,
    Column("stripe", Integer, primary_key=True, autoincrement=False),
    Column("account_net", JournalNet, nullable=False),
    Column("escrow_net", JournalNet, nullable=False),
    Column("pending_net", JournalNet, nullable=False),
    Column("entries", BigInteger, nullable=False),
)

# The promotional faucet: one grant per account, counted per network address for rate limits.
faucet_grants = Table(
    "faucet_grants",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("challenge_digest", LargeBinary(32), nullable=False),
    Column("client", String(64), nullable=False),
    Column("granted_at", BigInteger, nullable=False),
)
Index("ix_faucet_grants_client_at", faucet_grants.c.client, faucet_grants.c.granted_at)
