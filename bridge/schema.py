"""The bridge's own tables (SQLAlchemy Core). Alembic migrations in bridge/migrations/ build them.

The ledger is the record of payouts (every signed payout tx is recorded there before its first
broadcast); these tables are the bridge's working state: the scan cursor, bindings, deposits
seen, a mirror of its payouts with what the node answered, and payout memos seen on chain.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Not "alembic_version": the bridge may share a PostgreSQL database with the ledger.
VERSION_TABLE = "bridge_alembic_version"


class DepositStatus(enum.StrEnum):
    """The value is the database text."""

    CREDITED = "credited"
    SUSPENSE = "suspense"  # no account to credit yet: waits for a binding or an operator


class PayoutStatus(enum.StrEnum):
    """A payout as this bridge last saw it; paid and failed follow the ledger's withdrawal."""

    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"


class TxState(enum.StrEnum):
    ACTIVE = "active"  # the latest tx of its payout
    REFUSED = "rejected"  # the node refused its broadcast for good
    EXPIRED = "expired"  # replaced by a later tx


metadata = MetaData()

kv = Table(
    "bridge_kv", metadata, Column("key", String(64), primary_key=True), Column("value", Text)
)
bindings = Table(
    "bridge_bindings",
    metadata,
    Column("tron_address", String(64), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("proof", Text, nullable=False),  # the signed binding, JSON
    Column("bound_at", Float, nullable=False),
)
deposits = Table(
    "bridge_deposits",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("contract_index", Integer, primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("tron_from", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("account", String(64)),
    Column("status", String(16), nullable=False),  # DepositStatus
    Column("reason", Text, nullable=False, default=""),
    Column("seen_at", Float, nullable=False),
    Column("credited_at", Float),
)
payouts = Table(
    "bridge_payouts",
    metadata,
    Column("withdrawal_id", BigInteger, primary_key=True),
    Column("account", String(64), nullable=False),
    Column("tron_address", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # PayoutStatus
    Column("reason", Text, nullable=False, default=""),
    Column("paid_txid", String(64)),
    Column("day", String(10), nullable=False),  # UTC day the payout started (daily limit)
    Column("created_at", Float, nullable=False),
)
payout_txs = Table(
    "bridge_payout_txs",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("withdrawal_id", BigInteger, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("signed_json", Text, nullable=False),
    Column("expiration", BigInteger, nullable=False),  # ms, from the signed bytes
    Column("state", String(16), nullable=False),  # TxState
    Column("reason", Text, nullable=False, default=""),
    Column("signed_at", Float, nullable=False),
    Column("broadcast_at", Float),
)

# Transfers from the bridge address whose memo names a withdrawal (`btt-withdrawal:<id>`), seen
# by the scanner in solidified blocks: what a bridge on an empty database checks before signing.
chain_payouts = Table(
    "bridge_chain_payouts",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("contract_index", Integer, primary_key=True),
    Column("withdrawal_id", BigInteger, nullable=False, index=True),
    Column("block_number", BigInteger, nullable=False),
    Column("to_address", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("success", Boolean, nullable=False),
)
