"""Engines for the two supported stores: embedded SQLite (default) and PostgreSQL.

Every database call is bounded: connecting, waiting for a pooled connection, each statement on
the server, lock waits on SQLite, and a connection that goes silent (TCP keepalives and
tcp_user_timeout for a dead peer; the store's watchdog for a peer that acknowledges but never
answers).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_TIMEOUT = 5.0
"""Seconds one transaction may take, unless the caller's deadline comes sooner."""


def normalize_url(url: str) -> str:
    """Accept postgres://, postgresql:// and sqlite paths; always use psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def libpq_url(url: str) -> str:
    """The same database as a URL libpq (psycopg's own connect) understands."""
    return make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(False)


def postgres_connect_args(timeout: float) -> dict[str, Any]:
    """libpq settings that bound connecting, every statement and a dead or silent peer."""
    ms = max(1, int(timeout * 1000))
    return {
        "connect_timeout": max(2, math.ceil(timeout / 2)),  # libpq's floor is 2 s
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": ms,
        # The server ends a statement running longer than a transaction may, and a session left
        # idle inside a transaction (its client gone silent) so that its locks are released.
        "options": f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={2 * ms}",
        "application_name": "btt-ledger",
    }


def make_engine(url: str, *, pool_size: int = 16, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, timeout)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        pool_timeout=timeout,
        isolation_level="READ COMMITTED",
        connect_args=postgres_connect_args(timeout),
    )


def _sqlite_engine(url: str, timeout: float) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout})
    busy_ms = max(1, int(timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy drive transactions; WAL for concurrent readers; FULL sync so that an
        # acknowledged commit survives power loss; writers of other processes wait at most as
        # long as one transaction may take.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: no deadlock-prone upgrade from a read lock later.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
