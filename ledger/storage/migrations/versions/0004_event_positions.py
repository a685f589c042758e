"""event positions: events get their stream position after commit; accounts in two columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNNUMBERED = sa.text("position IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("account_a", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("account_b", sa.String(length=64), nullable=True))
    # Events already there keep their ids as positions: resume tokens handed out stay valid.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE events SET position = event_id, "
            "account_a = split_part(accounts, ' ', 1), "
            "account_b = NULLIF(split_part(accounts, ' ', 2), '')"
        )
    else:
        op.execute(
            "UPDATE events SET position = event_id, "
            "account_a = substr(accounts, 1, instr(accounts || ' ', ' ') - 1), "
            "account_b = NULLIF(substr(accounts, instr(accounts || ' ', ' ') + 1), '')"
        )
    with op.batch_alter_table("events") as batch:
        batch.alter_column("account_a", server_default=None)
        batch.drop_column("accounts")
        batch.create_index("ix_events_position", ["position"], unique=True)
        batch.create_index("ix_events_account_a", ["account_a", "position"])
        batch.create_index("ix_events_account_b", ["account_b", "position"])
        batch.create_index(
            "ix_events_unnumbered",
            ["event_id"],
            postgresql_where=_UNNUMBERED,
            sqlite_where=_UNNUMBERED,
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("accounts", sa.String(length=200), nullable=False, server_default="")
        )
    op.execute("UPDATE events SET accounts = account_a || COALESCE(' ' || account_b, '')")
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_unnumbered")
        batch.drop_index("ix_events_account_b")
        batch.drop_index("ix_events_account_a")
        batch.drop_index("ix_events_position")
        batch.drop_column("account_b")
        batch.drop_column("account_a")
        batch.drop_column("position")
        batch.alter_column("accounts", server_default=None)
