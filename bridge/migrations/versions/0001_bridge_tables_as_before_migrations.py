"""bridge tables as before migrations

Revision ID: 0001
Revises:
Create Date: 2026-12-01 01:23:40.440697
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bridge_bindings",
        sa.Column("tron_address", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("proof", sa.Text(), nullable=False),
        sa.Column("bound_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tron_address"),
    )
    op.create_table(
        "bridge_deposits",
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("contract_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tron_from", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("credited_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("txid", "contract_index"),
    )
    op.create_table(
        "bridge_kv",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "bridge_payout_txs",
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("signed_json", sa.Text(), nullable=False),
        sa.Column("expiration", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.Float(), nullable=False),
        sa.Column("broadcast_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("txid"),
    )
    with op.batch_alter_table("bridge_payout_txs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bridge_payout_txs_withdrawal_id"), ["withdrawal_id"], unique=False
        )

    op.create_table(
        "bridge_payouts",
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("tron_address", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paid_txid", sa.String(length=64), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("withdrawal_id"),
    )


def downgrade() -> None:
    op.drop_table("bridge_payouts")
    with op.batch_alter_table("bridge_payout_txs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bridge_payout_txs_withdrawal_id"))

    op.drop_table("bridge_payout_txs")
    op.drop_table("bridge_kv")
    op.drop_table("bridge_deposits")
    op.drop_table("bridge_bindings")
