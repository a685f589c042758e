"""Session-wide fixtures: database URLs for both supported stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ledger_harness import LedgerHarness, running_ledger
from tests.pg import drop_database, fresh_database, postgres_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    # No skip: when PostgreSQL cannot be had the suite fails, since skipping it is not passing it.
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    url = fresh_database(pg_server)
    yield url
    drop_database(pg_server, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on each store."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[LedgerHarness]:
    """A real ledger gRPC server on 127.0.0.1 over embedded SQLite, with a manual clock."""
    with running_ledger(sqlite_url) as harness:
        yield harness


@pytest.fixture
def ledger_any(db_url: str) -> Iterator[LedgerHarness]:
    """The same, once on SQLite and once on PostgreSQL."""
    with running_ledger(db_url) as harness:
        yield harness
