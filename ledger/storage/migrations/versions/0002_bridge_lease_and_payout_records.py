"""bridge lease and payout records

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 01:21:11.721958

The ledger becomes the record of the bridge's signed payout txs; one bridge holds a lease.
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
        "bridge_lease",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bridge_lease")),
    )
    op.create_table(
        "payout_txs",
        sa.Column("txid", sa.String(length=64), nullable=False),
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("expiration_ms", sa.BigInteger(), nullable=False),
        sa.Column("signed_tx", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("txid", name=op.f("pk_payout_txs")),
        sa.UniqueConstraint("withdrawal_id", "seq", name="withdrawal_seq"),
    )


def downgrade() -> None:
    op.drop_table("payout_txs")
    op.drop_table("bridge_lease")
