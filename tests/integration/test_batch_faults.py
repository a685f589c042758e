"""A batch whose COMMIT reply is lost: every operation is answered with what really happened.

The fault-injection proxy (tests/faultproxy.py) lets the batch's COMMIT reach PostgreSQL and
drops the reply. The ledger must then find each operation's outcome by its digest: the accepted
ones answered with their results (the batch did commit, so they are not applied again), the
refused one refused, and sending the same batch again changes nothing. Effects are read from
PostgreSQL directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.ledger_client import LedgerClient, LedgerRejected
from core.clock import ManualClock
from core.crypto import SigningKey
from core.database import libpq_url, make_engine
from core.envelopes import sign
from ledger.embedded import serving_in_thread
from ledger.rpc.server import RunningLedger, build_service
from ledger.storage.migrate import upgrade
from tests.faultproxy import PgFaultProxy, fault_proxy, through

pytestmark = pytest.mark.timeout(60)

LEDGER_ID = "batch-fault-ledger"
FUNDS = 1_000


@pytest.fixture
def rig(pg_url: str) -> Iterator[tuple[PgFaultProxy, RunningLedger, SigningKey]]:
    engine = make_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    with fault_proxy(pg_url, marker=b"INSERT INTO journal") as proxy:
        service = build_service(
            through(proxy, pg_url), ledger_id=LEDGER_ID, clock=ManualClock(), db_timeout=1.0
        )
        sender = SigningKey.generate()
        service.credit_deposit("cd" * 32, 0, sender.address, FUNDS, sender.address)
        try:
            with serving_in_thread(service, sweep_interval=None) as running:
                yield proxy, running, sender
        finally:
            service.store.dispose()


def _effects(pg_url: str, account: str) -> tuple[int, int, int]:
    """(transfer rows in the journal, balance, nonce), read from PostgreSQL itself."""
    with psycopg.connect(libpq_url(pg_url)) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM journal WHERE op = 'transfer'").fetchone()  # type: ignore[misc]
        balance, nonce = conn.execute(
            "SELECT balance, nonce FROM accounts WHERE account_id = %s", (account,)
        ).fetchone()  # type: ignore[misc]
    return int(rows), int(balance), int(nonce)


def test_lost_commit_reply_of_a_batch(
    rig: tuple[PgFaultProxy, RunningLedger, SigningKey], pg_url: str
) -> None:
    proxy, running, sender = rig
    to = SigningKey.generate().address

    def op(amount: int, nonce: int) -> pb.BatchOperation:
        payload = pb.TransferPayload(
            from_account=sender.address, to_account=to, amount=amount, nonce=nonce
        )
        return pb.BatchOperation(
            transfer=pb.TransferRequest(transfer=sign(sender, LEDGER_ID, payload))
        )

    batch = [op(100, 1), op(5_000, 2), op(200, 3)]
    proxy.lose_commit_reply()
    with LedgerClient(running.target, sender, timeout=5) as client:
        outcomes = client.submit_batch(batch)
        assert proxy.faults == 1
        first, third = outcomes[0].unwrap(), outcomes[2].unwrap()
        assert isinstance(first, pb.TransferResponse) and isinstance(third, pb.TransferResponse)
        assert (first.from_account.balance, third.from_account.balance) == (900, 700)
        # Refusals are not stored: decided afresh after the batch committed, the overdraft now
        # also finds its nonce below the account's. Either way: refused, nothing applied.
        refused = outcomes[1].error
        assert isinstance(refused, LedgerRejected)
        assert refused.reason in ("INSUFFICIENT_FUNDS", "NONCE_REUSED")
        assert _effects(pg_url, sender.address) == (2, 700, 3)
        # The same batch again: the same answers, no new effect.
        again = client.submit_batch(batch)
        assert again[0].unwrap() == first and again[2].unwrap() == third
        assert _effects(pg_url, sender.address) == (2, 700, 3)
        assert client.audit().balanced
