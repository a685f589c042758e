"""faucet grants

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "faucet_grants",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("challenge_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_faucet_grants")),
    )
    op.create_index(
        "ix_faucet_grants_client_at", "faucet_grants", ["client", "granted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_faucet_grants_client_at", table_name="faucet_grants")
    op.drop_table("faucet_grants")
