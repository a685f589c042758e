"""Bring the bridge's database to the latest schema with the migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect

from bridge.schema import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Databases made before the bridge had migrations hold exactly revision 0001's tables.
UNVERSIONED_REVISION = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(conn)
        tables = set(inspect(conn).get_table_names())
        if "bridge_kv" in tables and VERSION_TABLE not in tables:
            command.stamp(cfg, UNVERSIONED_REVISION)
        command.upgrade(cfg, "head")
