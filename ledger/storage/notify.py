"""How one ledger process tells the others of the same database that there are new events:
PostgreSQL LISTEN/NOTIFY, and for SQLite a bell of Unix datagram sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg

from core.database import DEFAULT_TIMEOUT, postgres_connect_args

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "btt_events"


async def listen(
    url: str,
    on_notify: Callable[[], None],
    *,
    channel: str = EVENTS_CHANNEL,
    timeout: float = DEFAULT_TIMEOUT,
    retry: float = 1.0,
) -> None:
    """Call `on_notify` for every notification on `channel` until cancelled.

    The connection is made again after any failure, and `on_notify` is called once it is back,
    since notifications sent while it was away are lost.
    """
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, **postgres_connect_args(timeout)
            )
            async with conn:
                await conn.execute(f"LISTEN {channel}")
                on_notify()
                async for _ in conn.notifies():
                    on_notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("event notifications interrupted (%s); listening again", exc)
        await asyncio.sleep(retry)


class FileBell:
    """Wakes the other ledger processes of one SQLite file when this one committed events.

    SQLite has no LISTEN/NOTIFY. Each process binds a Unix datagram socket in a private
    directory named after the database file; ringing sends one byte to every other socket there
    (a full socket buffer means that process is awake already; a dead one's socket is removed).
    """

    def __init__(self, database: Path) -> None:
        name = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
        self.directory = Path(tempfile.gettempdir()) / f"btt-ledger-{name}"
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)

    def ring(self) -> None:
        """Thread-safe; called after a local commit that wrote events."""
        for entry in os.scandir(self.directory):
            if entry.path == str(self.path):
                continue
            try:
                self.sock.sendto(b"\0", entry.path)
            except BlockingIOError:
                pass
            except OSError:  # no one listens there any more
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)

    async def listen(self, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` whenever another process rings, until cancelled."""
        loop = asyncio.get_running_loop()

        def readable() -> None:
            with contextlib.suppress(BlockingIOError):
                while self.sock.recv(64):
                    pass
            on_notify()

        loop.add_reader(self.sock.fileno(), readable)
        try:
            await asyncio.Event().wait()
        finally:
            loop.remove_reader(self.sock.fileno())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self.sock.close()
