"""What `btt-ledger admin` needs of a database before it opens one: that it exists and is a
ledger (never created by a typo in a path), and SQLite's online backup."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from core.database import is_sqlite, make_engine, normalize_url

LEDGER_TABLES = ("alembic_version", "ledger_meta", "accounts")


class AdminDbError(ValueError):
    """The database named cannot be used by an admin command; the message says why."""


def sqlite_file(url: str) -> Path:
    """The file of a sqlite:///PATH URL (an in-memory database has none)."""
    path = make_url(url).database
    if not path or path == ":memory:":
        raise AdminDbError(f"{url} names no database file")
    return Path(path).expanduser()


def require_ledger_db(url: str) -> None:
    """Raise AdminDbError unless `url` is an existing ledger database (schema present). Creates
    nothing: SQLite is opened read-only; PostgreSQL is only inspected."""
    if is_sqlite(url):
        path = sqlite_file(url)
        if not path.is_file():
            raise AdminDbError(
                f"no ledger database at {path} (btt-ledger migrate --db ... creates one)"
            )
        try:
            with _read_only(path) as conn:
                rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                tables = {r[0] for r in rows}
        except sqlite3.DatabaseError as exc:
            raise AdminDbError(f"{path} is not a SQLite database: {exc}") from None
    else:
        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
        finally:
            engine.dispose()
    missing = [t for t in LEDGER_TABLES if t not in tables]
    if missing:
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
        raise AdminDbError(
            f"{shown} is not a ledger database (no {missing[0]} table; "
            "btt-ledger migrate upgrades one)"
        )


class _read_only:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def backup_sqlite(url: str, out: Path, *, pages_per_step: int = 256) -> int:
    """Copy the SQLite ledger at `url` to `out` with SQLite's online backup API: consistent as of
    one moment while the server goes on writing (each step reads a few pages; a write between
    steps restarts the copy, so steps are short). `out` must not exist. Returns the page count.
    """
    if not is_sqlite(url):
        raise AdminDbError(
            "admin backup copies SQLite databases; for PostgreSQL take a base backup with WAL "
            "archiving (pg_basebackup; docs/operations.md)"
        )
    require_ledger_db(url)
    source = sqlite_file(url)
    if out.exists():
        raise AdminDbError(f"{out} exists: a backup never overwrites a file")
    if not out.parent.is_dir():
        raise AdminDbError(f"no directory {out.parent}")
    partial = out.with_name(out.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # money data: 0600
    except FileExistsError:
        raise AdminDbError(f"{partial} exists: another backup is running or was cut") from None
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=pages_per_step, sleep=0.005)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
        if ok != "ok":
            raise AdminDbError(f"the copy failed its integrity check: {ok}")
        os.replace(partial, out)
    except sqlite3.Error as exc:
        raise AdminDbError(f"backup of {source} failed: {exc}") from None
    finally:
        src.close()
        partial.unlink(missing_ok=True)
    return pages
