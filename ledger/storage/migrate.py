"""Bring a database to the latest schema with the Alembic migrations shipped in this package.

The migrations live in ledger/storage/migrations/ (package data), so an installed wheel finds them
through the package, not through a source checkout.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

ALEMBIC_INI = files("ledger.storage") / "alembic.ini"


def alembic_config(url: str) -> Config:
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # A migration may rewrite a large table: the per-statement limit is for requests.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
