"""Alembic environment of the bridge's own database: the target schema is bridge.schema."""

from __future__ import annotations

from alembic import context

from bridge.schema import VERSION_TABLE, metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run(config.attributes["connection"])
