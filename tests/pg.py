"""A throwaway PostgreSQL for tests and benchmarks.

In order of preference: `BTT_TEST_DATABASE_URL` (an existing server), a cluster started here
from the `initdb`/`pg_ctl` on PATH (as the `postgres` user when running as root, since initdb
refuses root), or a testcontainers container when a Docker engine is reachable.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg


class PostgresUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, args: list[str], **kwargs: object) -> None:
    cmd = ["runuser", "-u", user, "--", *args] if user else args
    subprocess.run(cmd, check=True, capture_output=True, timeout=60, **kwargs)  # type: ignore[call-overload]


def _cluster_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "btt-pg"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "btt-pg"], check=True)
    return "btt-pg"


@contextlib.contextmanager
def local_cluster(*, durable: bool = False) -> Iterator[str]:
    """initdb + pg_ctl in a temp dir; yields a server URL (without database name).

    Tests trade durability for speed; benchmarks ask for `durable` (fsync, synchronous commit).
    """
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        raise PostgresUnavailable("initdb/pg_ctl are not on PATH")
    user = _cluster_user()
    root = Path(tempfile.mkdtemp(prefix="btt-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if user:
        pw = pwd.getpwnam(user)
        for path in (root, sock):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    try:
        _run_as(user, ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
            "-c max_connections=200 -c shared_buffers=128MB"
        )
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run_as(
            user,
            [
                "pg_ctl",
                "-D",
                str(data),
                "-o",
                opts,
                "-w",
                "-t",
                "30",
                "start",
                "-l",
                str(root / "log"),
            ],
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        finally:
            with contextlib.suppress(Exception):
                _run_as(user, ["pg_ctl", "-D", str(data), "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def container_cluster() -> Iterator[str]:
    try:
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15", driver="psycopg")
    except Exception as exc:  # DockerException when no engine exists
        raise PostgresUnavailable(f"no Docker engine: {exc}") from exc
    with container as pg:
        url = pg.get_connection_url()
        yield url.rsplit("/", 1)[0]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A server URL without database name; databases are made per test by `fresh_database`."""
    env = os.environ.get("BTT_TEST_DATABASE_URL")
    if env:
        yield env.rsplit("/", 1)[0]
        return
    errors: list[str] = []
    for factory in (local_cluster, container_cluster):
        try:
            cm = factory()
            url = cm.__enter__()
        except PostgresUnavailable as exc:
            errors.append(str(exc))
            continue
        try:
            yield url
        finally:
            cm.__exit__(None, None, None)
        return
    raise PostgresUnavailable("; ".join(errors))


def _admin_dsn(server_url: str) -> str:
    return server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"


def fresh_database(server_url: str) -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = "btt_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_admin_dsn(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def drop_database(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with (
        contextlib.suppress(Exception),
        psycopg.connect(_admin_dsn(server_url), autocommit=True) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
