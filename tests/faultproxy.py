"""A TCP proxy on 127.0.0.1 in front of PostgreSQL that loses, stalls or refuses, on demand.

It reads the client's side of the PostgreSQL wire protocol just far enough to see statements
(simple queries, Parse and Bind of named statements) and so to know which COMMIT ends a
transaction that wrote a given table. Faults:

- `lose_commit_reply()`: the next such COMMIT reaches the server and commits; its reply is
  dropped and the client's connection is cut (optionally refusing every connection afterwards);
- `stall_after_commit()`: the same, but the connection then goes silent and stays open;
- `refuse()`: close every connection and refuse new ones until `accept()`.

The proxy runs its own event loop in a thread so that synchronous tests can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_STARTUP_ONLY_CODES = {80877103, 80877104}  # SSLRequest, GSSENCRequest: a startup follows
_READY_FOR_QUERY = b"Z\x00\x00\x00\x05"


def _cstring(data: bytes, start: int) -> tuple[bytes, int]:
    end = data.index(b"\x00", start)
    return data[start:end], end + 1


@dataclass(eq=False)  # hashable by identity
class _Conn:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    buffer: bytes = b""
    started: bool = False
    statements: dict[bytes, bytes] = field(default_factory=dict)
    wrote: bool = False  # the open transaction ran a statement that matches the marker
    fault: str = ""  # "", "lose" or "stall": what happens to the server's next replies


class PgFaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, marker: bytes) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.marker = marker
        self.port = 0
        self.commits_seen = 0  # COMMITs of matching transactions, faulted or not
        self.faults = 0  # faults injected so far
        self._armed = ""
        self._refuse_after = False
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # ---------------------------------------------------------------- control (any thread)

    def start(self) -> int:
        self._thread.start()
        self._call(self._listen())
        return self.port

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def lose_commit_reply(self, *, then_refuse: bool = False) -> None:
        self._armed, self._refuse_after = "lose", then_refuse

    def stall_after_commit(self) -> None:
        self._armed, self._refuse_after = "stall", False

    def refuse(self) -> None:
        self._call(self._refuse())

    def accept(self) -> None:
        self._call(self._listen())

    def _call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- the loop's side

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port or 0)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            self._drop(conn)

    async def _shutdown(self) -> None:
        await self._refuse()

    def _drop(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        for writer in (conn.client, conn.server):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        conn = _Conn(client=writer, server=up_writer)
        self._conns.add(conn)
        pumps = [
            asyncio.ensure_future(self._client_to_server(conn, reader)),
            asyncio.ensure_future(self._server_to_client(conn, up_reader)),
        ]
        with contextlib.suppress(Exception):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        if conn.fault != "stall":  # a stalled connection stays open, silent, until shutdown
            self._drop(conn)
        for pump in pumps:
            pump.cancel()

    async def _client_to_server(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            conn.buffer += chunk
            for message in self._messages(conn):
                self._inspect(conn, message)
                conn.server.write(message)
            await conn.server.drain()

    async def _server_to_client(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            if conn.fault == "stall":
                continue
            if conn.fault == "lose":
                if _READY_FOR_QUERY in chunk:  # the COMMIT is done on the server: cut the client
                    if self._refuse_after:
                        await self._refuse()
                    return
                continue
            conn.client.write(chunk)
            await conn.client.drain()

    def _messages(self, conn: _Conn) -> Iterator[bytes]:
        """Complete frontend messages in the buffer (startup packets have no type byte)."""
        while True:
            buf = conn.buffer
            if not conn.started:
                if len(buf) < 8:
                    return
                (length,) = struct.unpack("!I", buf[:4])
                if len(buf) < length:
                    return
                (code,) = struct.unpack("!I", buf[4:8])
                conn.started = code not in _STARTUP_ONLY_CODES
            else:
                if len(buf) < 5:
                    return
                (length,) = struct.unpack("!I", buf[1:5])
                length += 1
                if len(buf) < length:
                    return
            conn.buffer = buf[length:]
            yield buf[:length]

    def _inspect(self, conn: _Conn, message: bytes) -> None:
        if not conn.started or message[:1] not in (b"Q", b"P", b"B"):
            return
        kind, body = message[:1], message[5:]
        if kind == b"B":
            _portal, at = _cstring(body, 0)
            name, _ = _cstring(body, at)
            query = conn.statements.get(name, b"")
        elif kind == b"P":
            name, at = _cstring(body, 0)
            query, _ = _cstring(body, at)
            conn.statements[name] = query
        else:
            query, _ = _cstring(body, 0)
        verb = query.lstrip()[:8].upper()
        if verb.startswith(b"COMMIT"):
            if conn.wrote:
                self.commits_seen += 1
                if self._armed:
                    conn.fault, self._armed = self._armed, ""
                    self.faults += 1
            conn.wrote = False
        elif verb.startswith(b"ROLLBACK"):
            conn.wrote = False
        elif self.marker in query:
            conn.wrote = True


@contextlib.contextmanager
def fault_proxy(upstream_url: str, *, marker: bytes) -> Iterator[PgFaultProxy]:
    """A running proxy in front of the server of `upstream_url` (host:port taken from it)."""
    from sqlalchemy.engine import make_url

    url = make_url(upstream_url)
    proxy = PgFaultProxy(url.host or "127.0.0.1", url.port or 5432, marker=marker)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


def through(proxy: PgFaultProxy, database_url: str) -> str:
    """The same database URL, reached through the proxy."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)
