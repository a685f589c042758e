"""The ledger between its clients and a PostgreSQL that loses, stalls and refuses.

A fault-injection TCP proxy (tests/faultproxy.py) sits between a real ledger gRPC server and a
real PostgreSQL. Each case asserts exactly one effect (read from PostgreSQL directly, not through
the ledger), an honest answer, and an answer within the client's deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import psycopg
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_client import AsyncLedgerClient
from core.clock import ManualClock
from core.crypto import SigningKey
from core.database import libpq_url, make_engine
from core.envelopes import sign
from core.rejections import DATABASE_UNAVAILABLE, OUTCOME_UNKNOWN, reason_of
from ledger.embedded import serving_in_thread
from ledger.rpc.server import RunningLedger, build_service
from ledger.storage.migrate import upgrade
from tests.faultproxy import PgFaultProxy, fault_proxy, through

pytestmark = pytest.mark.timeout(60)

LEDGER_ID = "fault-ledger"
DB_TIMEOUT = 1.0  # each transaction; clients below give each call a few seconds
FUNDS = 1_000


@dataclass
class Rig:
    proxy: PgFaultProxy
    running: RunningLedger
    direct_url: str  # PostgreSQL itself, not through the proxy
    sender: SigningKey
    recipient: str

    @property
    def target(self) -> str:
        return self.running.target

    def transfer_request(self, amount: int, nonce: int) -> pb.TransferRequest:
        payload = pb.TransferPayload(
            from_account=self.sender.address,
            to_account=self.recipient,
            amount=amount,
            nonce=nonce,
        )
        return pb.TransferRequest(transfer=sign(self.sender, LEDGER_ID, payload))

    def effects(self) -> tuple[int, int, int]:
        """(transfers in the journal, sender balance, sender nonce), read from PostgreSQL."""
        with psycopg.connect(libpq_url(self.direct_url)) as conn:
            (count,) = conn.execute("SELECT count(*) FROM journal WHERE op = 'transfer'").fetchone()  # type: ignore[misc]
            balance, nonce = conn.execute(
                "SELECT balance, nonce FROM accounts WHERE account_id = %s",
                (self.sender.address,),
            ).fetchone()  # type: ignore[misc]
        return int(count), int(balance), int(nonce)


@pytest.fixture
def rig(pg_url: str) -> Iterator[Rig]:
    engine = make_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    with fault_proxy(pg_url, marker=b"INSERT INTO journal") as proxy:
        service = build_service(
            through(proxy, pg_url),
            ledger_id=LEDGER_ID,
            clock=ManualClock(),
            migrate=False,
            db_timeout=DB_TIMEOUT,
        )
        sender = SigningKey.generate()
        service.credit_deposit("ab" * 32, 0, sender.address, FUNDS, sender.address)
        try:
            with serving_in_thread(service, sweep_interval=None) as running:
                yield Rig(proxy, running, pg_url, sender, SigningKey.generate().address)
        finally:
            service.store.dispose()


def call(
    rig: Rig, request: pb.TransferRequest, timeout: float
) -> tuple[pb.TransferResponse | grpc.RpcError, float]:
    """One Transfer call; returns the reply or the error, and the seconds it took."""
    with grpc.insecure_channel(rig.target) as channel:
        stub = pb_grpc.LedgerStub(channel)
        start = time.monotonic()
        try:
            reply: pb.TransferResponse | grpc.RpcError = stub.Transfer(request, timeout=timeout)
        except grpc.RpcError as exc:
            reply = exc
        return reply, time.monotonic() - start


def test_lost_commit_reply_is_looked_up_not_applied_twice(rig: Rig) -> None:
    rig.proxy.lose_commit_reply()
    request = rig.transfer_request(100, nonce=1)
    reply, took = call(rig, request, timeout=5)
    assert rig.proxy.faults == 1
    assert isinstance(reply, pb.TransferResponse), reply
    assert took < 5
    assert reply.from_account.balance == FUNDS - 100
    assert rig.effects() == (1, FUNDS - 100, 1)
    # The same bytes again: the same answer, still one transfer.
    again, _ = call(rig, request, timeout=5)
    assert again == reply
    assert rig.effects() == (1, FUNDS - 100, 1)


def test_lost_commit_reply_then_refused_connections_is_unavailable_and_unknown(rig: Rig) -> None:
    rig.proxy.lose_commit_reply(then_refuse=True)
    request = rig.transfer_request(100, nonce=1)
    reply, took = call(rig, request, timeout=4)
    assert rig.proxy.faults == 1
    assert isinstance(reply, grpc.RpcError)
    assert reply.code() == grpc.StatusCode.UNAVAILABLE, reply.details()
    assert reason_of(reply) == OUTCOME_UNKNOWN
    assert "outcome is unknown" in reply.details()
    assert "nothing was committed" not in reply.details()
    assert took < 4
    assert rig.effects() == (1, FUNDS - 100, 1)  # it did commit
    rig.proxy.accept()
    again, _ = call(rig, request, timeout=5)
    assert isinstance(again, pb.TransferResponse), again
    assert again.from_account.balance == FUNDS - 100
    assert rig.effects() == (1, FUNDS - 100, 1)


def test_connection_silent_after_commit_ends_within_the_deadline(rig: Rig) -> None:
    rig.proxy.stall_after_commit()
    request = rig.transfer_request(100, nonce=1)
    reply, took = call(rig, request, timeout=4)
    assert rig.proxy.faults == 1
    assert isinstance(reply, pb.TransferResponse), reply
    assert took < 4
    assert rig.effects() == (1, FUNDS - 100, 1)
    assert rig.running.service.store.watchdog is not None
    assert rig.running.service.store.watchdog.cuts == 1
    # No worker stays pinned: the ledger goes on serving at once.
    reply, took = call(rig, rig.transfer_request(50, nonce=2), timeout=4)
    assert isinstance(reply, pb.TransferResponse), reply
    assert rig.effects() == (2, FUNDS - 150, 2)


def test_refused_connections_are_unavailable_and_nothing_committed(rig: Rig) -> None:
    rig.proxy.refuse()
    request = rig.transfer_request(100, nonce=1)
    reply, took = call(rig, request, timeout=3)
    assert isinstance(reply, grpc.RpcError)
    assert reply.code() == grpc.StatusCode.UNAVAILABLE, reply.details()
    assert reason_of(reply) == DATABASE_UNAVAILABLE
    assert "nothing was committed" in reply.details()
    assert took < 3
    assert rig.effects() == (0, FUNDS, 0)
    rig.proxy.accept()
    again, _ = call(rig, request, timeout=5)
    assert isinstance(again, pb.TransferResponse), again
    assert rig.effects() == (1, FUNDS - 100, 1)


async def test_sdk_transfer_call_is_one_transfer_across_lost_reply_and_outage(rig: Rig) -> None:
    """The commit's reply is lost and the database then refuses connections for a while: the
    SDK resends the same signed bytes until the ledger can tell, and one call is one transfer."""
    rig.proxy.lose_commit_reply(then_refuse=True)

    def come_back() -> None:
        while rig.proxy.faults == 0:
            time.sleep(0.01)
        time.sleep(2.5)
        rig.proxy.accept()

    restorer = threading.Thread(target=come_back)
    restorer.start()
    async with AsyncLedgerClient(rig.target, rig.sender, timeout=2, write_attempts=8) as client:
        reply = await client.transfer(rig.recipient, 100)
    restorer.join()
    assert rig.proxy.faults == 1
    assert reply.from_account.balance == FUNDS - 100
    assert rig.effects() == (1, FUNDS - 100, 1)
