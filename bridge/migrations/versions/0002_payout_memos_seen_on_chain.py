"""payout memos seen on chain

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 01:23:43.454437
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bridge_chain_payouts",
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("contract_index", sa.Integer(), nullable=False),
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("to_address", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("txid", "contract_index"),
    )
    with op.batch_alter_table("bridge_chain_payouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bridge_chain_payouts_withdrawal_id"), ["withdrawal_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bridge_chain_payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bridge_chain_payouts_withdrawal_id"))

    op.drop_table("bridge_chain_payouts")
