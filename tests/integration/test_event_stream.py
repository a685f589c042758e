"""The event stream is gapless: every subscriber gets every committed event that matches its
filter exactly once, in one order that a resume token reproduces, with several ledger processes
and connections writing at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psycopg
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import ManualClock
from core.crypto import SigningKey
from core.database import is_sqlite, libpq_url
from core.envelopes import open_signed, sign
from core.signing import derive_channel_id
from core.status import EventKind
from core.types import Timestamp
from ledger.embedded import serving_in_thread
from ledger.rpc.server import build_service
from ledger.service import LedgerService

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
LEDGER = "stream-ledger"
TOKEN = "stream-token"
OPS_PER_WRITER = 25  # counted, not timed: the machine may be busy
# Waiting for a process that is still starting: retry the connection often, not with gRPC's
# growing backoff.
QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 250),
]


def test_an_event_that_commits_late_comes_after_and_is_not_skipped(pg_url: str) -> None:
    """PostgreSQL: the event inserted first commits last; a reader in between must not move its
    cursor past it (ids taken at INSERT used to become visible at COMMIT in another order)."""
    service = build_service(pg_url, ledger_id=LEDGER, clock=ManualClock(), migrate=True)
    a, b = SigningKey.generate().address, SigningKey.generate().address
    try:
        early = service.store.transaction()
        tx = early.__enter__()
        tx.add_event(EventKind.CREDIT, at=Timestamp(1), accounts=[a], amount=1)  # the lower id
        with service.store.transaction() as other:
            other.add_event(EventKind.CREDIT, at=Timestamp(1), accounts=[b], amount=2)
        seen = service.events_after(0)
        assert [e.accounts for e in seen] == [(b,)]
        early.__exit__(None, None, None)  # commits
        later = service.events_after(seen[-1].event_id)
        assert [e.accounts for e in later] == [(a,)]
        assert [e.accounts for e in service.events_after(0)] == [(b,), (a,)]
    finally:
        service.store.dispose()


# ---------------------------------------------------------------- many writers, many readers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ledger_processes(db_url: str, processes: int, log: Path) -> Iterator[str]:
    """`btt-ledger serve` with `processes` processes on one port; yields its target."""
    port = free_port()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledger.cli",
                "serve",
                "--db",
                db_url,
                "--listen",
                f"127.0.0.1:{port}",
                "--ledger-id",
                LEDGER,
                "--log-level",
                "WARNING",
                "--processes",
                str(processes),
            ],
            cwd=ROOT,
            env={**os.environ, "BTT_LEDGER_TREASURY_TOKEN": TOKEN},  # a secret is no argument
            stderr=err,
        )
        target = f"127.0.0.1:{port}"
        try:
            with grpc.insecure_channel(target, options=QUICK_RECONNECT) as channel:
                grpc.channel_ready_future(channel).result(timeout=60)
            yield target
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@dataclass
class Subscriber:
    """One Subscribe stream read in a thread; `got` holds (event id, kind) as they arrive."""

    target: str
    account: str
    after: int
    got: list[tuple[int, int]] = field(default_factory=list)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._channel = grpc.insecure_channel(self.target)
        self._call = pb_grpc.LedgerStub(self._channel).Subscribe(
            pb.SubscribeRequest(account=self.account, after_event_id=self.after), timeout=110
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._call:
                self.got.append((event.event_id, event.kind))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = exc

    def close(self) -> None:
        self._call.cancel()
        self._thread.join(10)
        self._channel.close()


def stream_truth(db_url: str, after: int) -> list[tuple[int, str, str | None, str]]:
    """(position, account_a, account_b, kind) of every event after `after`, from the database
    itself; every event must have a position by now."""
    query = (
        "SELECT position, account_a, account_b, kind FROM events WHERE position > {p} "
        "ORDER BY position"
    )
    unnumbered = "SELECT count(*) FROM events WHERE position IS NULL"
    if is_sqlite(db_url):
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            assert conn.execute(unnumbered).fetchone() == (0,)
            return list(conn.execute(query.format(p="?"), (after,)))
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute(unnumbered).fetchone() == (0,)
        return list(conn.execute(query.format(p="%s"), (after,)))  # type: ignore[arg-type]


class Writers:
    """Threads that write at once, through gRPC (to several processes) and directly."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.start = threading.Event()

    def spawn(self, work: Callable[[], None], times: int) -> None:
        def run() -> None:
            self.start.wait(30)
            try:
                for _ in range(times):
                    work()
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def run(self) -> None:
        self.start.set()
        for thread in self.threads:
            thread.join(90)
        assert not self.errors, self.errors


def grpc_transfers(target: str, key: SigningKey, payees: Sequence[str]) -> Callable[[], None]:
    stub = pb_grpc.LedgerStub(grpc.insecure_channel(target))
    nonce = iter(range(1, 10**9))

    def work() -> None:
        payload = pb.TransferPayload(
            from_account=key.address,
            to_account=random.choice(payees),
            amount=1,
            nonce=next(nonce),
        )
        stub.Transfer(pb.TransferRequest(transfer=sign(key, LEDGER, payload)), timeout=30)

    return work


def direct_transfers(
    service: LedgerService, key: SigningKey, payees: Sequence[str]
) -> Callable[[], None]:
    nonce = iter(range(1, 10**9))

    def work() -> None:
        n = next(nonce)
        to = random.choice(payees)
        payload = pb.TransferPayload(from_account=key.address, to_account=to, amount=1, nonce=n)
        o = open_signed(LEDGER, sign(key, LEDGER, payload), pb.TransferPayload, "t")
        service.transfer(key.address, to, 1, n, "", o.proof)

    return work


def closing_channels(
    targets: list[str], payer: SigningKey, payee: SigningKey
) -> Callable[[], None]:
    """Open a channel to `payee`, then ask to close it (the payee must see `channel_closing`)."""
    stubs = [pb_grpc.LedgerStub(grpc.insecure_channel(t)) for t in targets]
    salts = iter(range(1, 10**9))

    def work() -> None:
        salt = next(salts)
        stub = stubs[salt % len(stubs)]
        cid = derive_channel_id(LEDGER, payer.address, payee.address, salt)
        expiry = int(time.time()) + 3600
        commit = pb.OpenChannelPayload(
            payer=payer.address,
            payee=payee.address,
            deposit=10,
            expiry=expiry,
            salt=salt,
            channel_id=cid,
        )
        refund = pb.RefundPayload(channel_id=cid, expiry=expiry, version=0)
        stub.OpenChannel(
            pb.OpenChannelRequest(
                commitment=sign(payer, LEDGER, commit), refund=sign(payee, LEDGER, refund)
            ),
            timeout=30,
        )
        request = sign(payer, LEDGER, pb.RequestClosePayload(channel_id=cid))
        stub.RequestClose(pb.RequestCloseRequest(request=request), timeout=30)

    return work


def wait_for(subscribers: list[Subscriber], wanted: dict[int, list[int]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(len(s.got) >= len(wanted[id(s)]) or s.error is not None for s in subscribers):
            return
        time.sleep(0.05)


def test_every_subscriber_gets_every_event_once_in_order(db_url: str, tmp_path: Path) -> None:
    service = build_service(db_url, ledger_id=LEDGER, migrate=True)
    payees = [SigningKey.generate() for _ in range(2)]
    others = [SigningKey.generate().address for _ in range(4)]
    to = [p.address for p in payees] + others
    writers_keys = [SigningKey.generate() for _ in range(8)]
    for i, key in enumerate(writers_keys):
        service.credit_deposit(f"{i:064x}", 0, key.address, 10**9, key.address)
    service.number_events()
    start = service.last_event_id()
    try:
        with (
            ledger_processes(db_url, 2, tmp_path / "a.log") as a,
            ledger_processes(db_url, 1, tmp_path / "b.log") as b,
        ):
            subscribers = [
                Subscriber(target, account, start)
                for target in (a, b)
                for account in ("", payees[0].address, payees[1].address)
            ]
            writers = Writers()
            for i, key in enumerate(writers_keys[:6]):
                writers.spawn(grpc_transfers((a, b)[i % 2], key, to), OPS_PER_WRITER)
            writers.spawn(direct_transfers(service, writers_keys[6], to), OPS_PER_WRITER)
            writers.spawn(closing_channels([a, b], writers_keys[7], payees[0]), 10)
            writers.run()

            service.number_events()
            truth = stream_truth(db_url, start)
            every = [position for position, *_ in truth]

            def matching(account: str) -> list[int]:
                return [p for p, x, y, _ in truth if not account or account in (x, y)]

            wanted = {id(s): matching(s.account) for s in subscribers}
            wait_for(subscribers, wanted, 30)
            for s in subscribers:
                s.close()
            assert len(every) == 7 * OPS_PER_WRITER + 2 * 10
            assert every == sorted(set(every))
            closing = [p for p, _, _, kind in truth if kind == EventKind.CHANNEL_CLOSING.value]
            assert closing and set(closing) <= set(matching(payees[0].address))
            for s in subscribers:
                assert s.error is None, s.error
                assert [position for position, _ in s.got] == wanted[id(s)], (
                    s.target,
                    s.account,
                )

            # Resume from a token in the middle: exactly the rest, on either process.
            middle = every[len(every) // 2]
            resumed = [
                Subscriber(b, "", middle),
                Subscriber(a, payees[0].address, middle),
            ]
            rest = {
                id(resumed[0]): [p for p in every if p > middle],
                id(resumed[1]): [p for p in matching(payees[0].address) if p > middle],
            }
            wait_for(resumed, rest, 30)
            for s in resumed:
                s.close()
                assert s.error is None, s.error
                assert [position for position, _ in s.got] == rest[id(s)]
        assert service.audit().balanced
    finally:
        service.store.dispose()


# ---------------------------------------------------------------- pushed across processes


def test_events_of_another_process_are_pushed_not_polled(db_url: str) -> None:
    """Two ledger servers on one database, each with its own store as two processes have, and
    their hubs' catch-all tick set to an hour: an event committed through one reaches a
    subscriber of the other only if the commit is pushed (PostgreSQL NOTIFY, SQLite's bell)."""
    hour = 3600.0
    writer = build_service(db_url, ledger_id=LEDGER, clock=ManualClock(), migrate=True)
    reader = build_service(db_url, ledger_id=LEDGER, clock=ManualClock())
    accounts = [SigningKey.generate().address for _ in range(2)]
    try:
        with (
            serving_in_thread(writer, sweep_interval=None, event_tick=hour) as near,
            serving_in_thread(reader, sweep_interval=None, event_tick=hour) as far,
        ):
            start = writer.last_event_id()
            subscribers = [
                Subscriber(far.target, "", start),
                Subscriber(far.target, accounts[1], start),
                Subscriber(near.target, "", start),
            ]
            deadline = time.monotonic() + 30
            while not (far.hub.streams == 2 and near.hub.streams == 1):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            for i in range(20):  # far less than the tick goes by
                account = accounts[i % 2]
                writer.credit_deposit(f"{i:064x}", 0, account, 1 + i, account)
            counts = [20, 10, 20]
            wait_for(
                subscribers, {id(s): [0] * n for s, n in zip(subscribers, counts, strict=True)}, 30
            )
            every = [p for p, *_ in stream_truth(db_url, start)]
            assert len(every) == 20
            wanted = {
                id(subscribers[0]): every,
                id(subscribers[1]): every[1::2],
                id(subscribers[2]): every,
            }
            for s in subscribers:
                s.close()
                assert s.error is None, s.error
                assert [position for position, _ in s.got] == wanted[id(s)], s.account
    finally:
        writer.store.dispose()
        reader.store.dispose()
