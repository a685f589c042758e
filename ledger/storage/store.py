"""The unit of work: one database transaction per use case, ended by a deadline.

`Store.transaction()` opens a write transaction and hands out a `Tx` (ledger/storage/tx.py, the
repositories; their SQL and row mapping are in ledger/storage/rows.py); the block commits it. A
failure to reach the database is told apart from a refused request (`is_unavailable`), and a
commit whose outcome is unknown from one that did not happen.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from core.database import DEFAULT_TIMEOUT, libpq_url
from ledger.storage.deadline import deadline_for
from ledger.storage.errors import CommitOutcomeUnknown, DatabaseUnavailable
from ledger.storage.rows import JournalIds
from ledger.storage.tx import Tx
from ledger.storage.watchdog import Watchdog

__all__ = ["Store", "Tx", "is_unavailable"]

# SQLSTATE classes and codes that say the connection or the server failed, not the request:
# connection exceptions, operator intervention (shutdown, statement timeout), too many clients.
_UNAVAILABLE_CLASSES = ("08", "57")
_UNAVAILABLE_CODES = {"53300"}


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` is about reaching the database, not about the request itself."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection in time
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    if state is None:
        # psycopg reports a lost or refused connection without a SQLSTATE; SQLite reports a lock
        # wait past its busy timeout as "database is locked", a conflict and not an outage.
        return isinstance(exc, OperationalError) and "locked" not in str(exc.orig).lower()
    return state.startswith(_UNAVAILABLE_CLASSES) or state in _UNAVAILABLE_CODES


def _committed_nothing(exc: BaseException) -> bool:
    """After COMMIT failed: True only when the server said the transaction did not commit."""
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    state = _sqlstate(exc)
    if state is not None:
        return not state.startswith(_UNAVAILABLE_CLASSES)
    return "locked" in str(exc.orig).lower()  # SQLite busy: the transaction is still open


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{orig.__class__.__name__}: {str(orig).strip().splitlines()[0] if str(orig) else ''}"


class Store:
    def __init__(self, engine: Engine, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.timeout = timeout
        # SQLite has one writer at a time; queueing writers here is fair and fast, where
        # SQLite's own busy handler sleeps in growing steps and ruins tail latency.
        self._writer = threading.Lock() if self.dialect == "sqlite" else None
        # SQLite has no socket to go silent; its waits are bounded by the busy timeout.
        self.watchdog = Watchdog() if self.dialect != "sqlite" else None
        self._journal_ids = JournalIds()

    def deadline(self) -> float:
        """When work started now must end: the store's timeout or the caller's deadline."""
        return deadline_for(self.timeout)

    @contextmanager
    def transaction(self, deadline: float | None = None) -> Iterator[Tx]:
        """One write transaction that ends by `deadline`, committed when the block exits.

        Raises `DatabaseUnavailable` when nothing was committed (no connection in time, the
        connection failed or timed out before COMMIT) and `CommitOutcomeUnknown` when the
        connection failed while COMMIT was in flight. Conflicts (deadlock, serialization, a busy
        SQLite) and constraint violations propagate as SQLAlchemy errors, nothing committed.
        """
        deadline = self.deadline() if deadline is None else deadline
        with self._write_turn(deadline), self._connection(deadline) as conn:
            trans = conn.begin()
            try:
                yield Tx(conn, lock=self._writer is None, journal_ids=self._journal_ids)
            except BaseException as exc:
                with contextlib.suppress(SQLAlchemyError):
                    trans.rollback()
                if is_unavailable(exc):
                    raise DatabaseUnavailable(_reason(exc)) from exc
                raise
            try:
                trans.commit()
            except SQLAlchemyError as exc:
                if not _committed_nothing(exc):
                    raise CommitOutcomeUnknown(_reason(exc)) from exc
                with contextlib.suppress(SQLAlchemyError):
                    trans.rollback()
                raise

    @contextmanager
    def reader(self, deadline: float | None = None) -> Iterator[Tx]:
        deadline = self.deadline() if deadline is None else deadline
        with self._connection(deadline) as conn:
            try:
                yield Tx(conn, lock=False)
                conn.rollback()
            except SQLAlchemyError as exc:
                if is_unavailable(exc):
                    raise DatabaseUnavailable(_reason(exc)) from exc
                raise

    @contextmanager
    def _write_turn(self, deadline: float) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        if not self._writer.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise DatabaseUnavailable("timed out waiting for the database write lock")
        try:
            yield
        finally:
            self._writer.release()

    @contextmanager
    def _connection(self, deadline: float) -> Iterator[Connection]:
        """A pooled connection whose use, rollback or commit included, ends by `deadline`."""
        try:
            conn = self.engine.connect()
        except (DBAPIError, sa_exc.TimeoutError) as exc:
            raise DatabaseUnavailable(f"cannot connect: {_reason(exc)}") from exc
        token = None
        try:
            if self.watchdog is not None:
                fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
                token = self.watchdog.arm(fd, deadline)
            yield conn
        finally:
            if token is not None:
                self.watchdog.disarm(token)  # type: ignore[union-attr]
            conn.close()

    @property
    def numbers_events_after_commit(self) -> bool:
        """PostgreSQL numbers events after they commit (see Tx.number_events); SQLite as it
        commits them."""
        return self.dialect != "sqlite"

    def notify_url(self) -> str | None:
        """Where to LISTEN for other processes' events (PostgreSQL), or None."""
        if not self.numbers_events_after_commit:
            return None
        return libpq_url(self.engine.url.render_as_string(hide_password=False))

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None (PostgreSQL, or SQLite in memory)."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    def dispose(self) -> None:
        self.engine.dispose()
