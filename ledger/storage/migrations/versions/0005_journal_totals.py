"""journal totals: running per-kind sums of the journal, striped

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRIPES = 64


# Nets of one stripe drift from the totals, past 64 bits over time: NUMERIC on PostgreSQL
# (SQLite uses stripe 0 only, whose nets are the totals).
NET = sa.BigInteger().with_variant(sa.Numeric(40, 0), "postgresql")


def _flow(column: str, kind: str) -> int:
    """SUM(amount) of the journal rows with `column` = `kind`, exact: the upper and lower 32 bits
    are summed apart (SQLite's SUM raises past 64 bits) and joined here."""
    high, low = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COALESCE(SUM(amount >> 32), 0), COALESCE(SUM(amount & 4294967295), 0) "
                f"FROM journal WHERE {column} = :kind"
            ),
            {"kind": kind},
        )
        .one()
    )
    return (int(high) << 32) + int(low)


def _net(kind: str) -> int:
    return _flow("target_kind", kind) - _flow("source_kind", kind)


def upgrade() -> None:
    op.create_table(
        "journal_totals",
        sa.Column("stripe", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account_net", NET, nullable=False),
        sa.Column("escrow_net", NET, nullable=False),
        sa.Column("pending_net", NET, nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stripe", name=op.f("pk_journal_totals")),
    )
    # Stripe 0 starts with what the journal holds so far (one full count, here only); the
    # others start at zero.
    entries = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM journal")).scalar_one()
    op.get_bind().execute(
        sa.text(
            "INSERT INTO journal_totals (stripe, account_net, escrow_net, pending_net, entries) "
            "VALUES (0, :a, :e, :p, :n)"
        ),
        {"a": _net("account"), "e": _net("escrow"), "p": _net("pending"), "n": int(entries)},
    )
    for stripe in range(1, STRIPES):
        op.execute(
            "INSERT INTO journal_totals (stripe, account_net, escrow_net, pending_net, entries) "
            f"VALUES ({stripe}, 0, 0, 0, 0)"
        )


def downgrade() -> None:
    op.drop_table("journal_totals")
