"""Every state-changing RPC takes effect once per signed request, on SQLite and PostgreSQL, and a
write blocked by the database gives up by its deadline with nothing committed."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import ManualClock
from core.crypto import SigningKey
from core.database import is_sqlite, libpq_url
from core.envelopes import cosign, open_signed, request_digest, sign
from ledger.rpc.server import build_service
from ledger.storage.errors import DatabaseUnavailable
from tests.integration.test_grpc_ledger import Channel, Party
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def stub(ledger_any: LedgerHarness) -> Iterator[pb_grpc.LedgerStub]:
    with grpc.insecure_channel(ledger_any.target) as channel:
        yield pb_grpc.LedgerStub(channel)


def footprint(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> tuple[int, int, int]:
    """What any effect would change: journal entries, the events, account balances."""
    audit = stub.Audit(pb.AuditRequest(), timeout=10)
    assert audit.balanced
    events = len(ledger.service.events_after(0, 100_000))
    return audit.journal_entries, events, audit.account_balances


def twice(
    ledger: LedgerHarness, stub: pb_grpc.LedgerStub, method: Callable[..., Any], request: Any
) -> Any:
    """Send `request`, then the same bytes again: the second answer is the first, unchanged."""
    first = method(request, timeout=10)
    before = footprint(ledger, stub)
    assert method(request, timeout=10) == first
    assert footprint(ledger, stub) == before
    return first


def test_each_write_answers_its_resend_with_the_first_outcome(
    ledger_any: LedgerHarness, stub: pb_grpc.LedgerStub
) -> None:
    ledger = ledger_any
    payer, payee = Party(ledger, stub), Party(ledger, stub)
    ledger.fund(payer.address, 100_000)
    transfer = pb.TransferPayload(
        from_account=payer.address, to_account=payee.address, amount=10, nonce=1
    )
    sent = twice(ledger, stub, stub.Transfer, pb.TransferRequest(transfer=payer.sign(transfer)))
    assert sent.from_account.balance == 99_990 and sent.entry_id > 0
    withdrawal = pb.WithdrawalPayload(
        account=payer.address, tron_address=payer.address, amount=90, nonce=2
    )
    w = twice(
        ledger,
        stub,
        stub.RequestWithdrawal,
        pb.RequestWithdrawalRequest(withdrawal=payer.sign(withdrawal)),
    )
    assert w.withdrawal.amount == 90

    a, b, c = (Channel(payer, payee, 1_000) for _ in range(3))
    for ch in (a, b, c):
        twice(ledger, stub, stub.OpenChannel, ch.open_request())
    twice(ledger, stub, stub.SubmitState, pb.SubmitStateRequest(state=a.state(1, 100)))
    new_expiry = a.expiry + 100
    topup = pb.TopUpRequest(
        topup=payer.sign(
            pb.TopUpPayload(
                channel_id=a.id, additional_deposit=500, new_expiry=new_expiry, sequence=1
            )
        ),
        refund=payee.sign(pb.RefundPayload(channel_id=a.id, expiry=new_expiry, version=1)),
    )
    assert twice(ledger, stub, stub.TopUp, topup).channel.deposit == 1_500
    closed = twice(ledger, stub, stub.CloseChannel, a.close(2, 300))
    assert closed.channel.paid_to_payee == 300

    coop = payer.sign(pb.CooperativeClosePayload(channel_id=b.id, cumulative=150))
    both = cosign(payee.key, ledger.ledger_id, coop, pb.CooperativeClosePayload)
    twice(
        ledger,
        stub,
        stub.CooperativeClose,
        pb.CooperativeCloseRequest(payer_close=coop, payee_close=both),
    )

    request = pb.RequestCloseRequest(request=payer.sign(pb.RequestClosePayload(channel_id=c.id)))
    assert (
        twice(ledger, stub, stub.RequestClose, request).channel.status == pb.CHANNEL_STATUS_CLOSING
    )
    ledger.clock.advance(c.expiry - ledger.clock.now())
    refunded = twice(ledger, stub, stub.ClaimRefund, c.refund_claim())
    assert refunded.channel.refunded_to_payer == 1_000

    assert payee.balance() == 10 + 300 + 150
    assert payer.balance() == 100_000 - 10 - 90 - 300 - 150


def test_a_refusal_is_not_stored(ledger_any: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    """A request refused for want of funds can be sent again, as it is, once they are there."""
    payer, payee = Party(ledger_any, stub), Party(ledger_any, stub)
    transfer = pb.TransferPayload(
        from_account=payer.address, to_account=payee.address, amount=10, nonce=1
    )
    request = pb.TransferRequest(transfer=payer.sign(transfer))
    with pytest.raises(grpc.RpcError) as err:
        stub.Transfer(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    ledger_any.fund(payer.address, 10)
    assert stub.Transfer(request, timeout=10).from_account.balance == 0
    assert payee.balance() == 10


def test_concurrent_twins_take_effect_once(db_url: str) -> None:
    """The same signed transfer from eight threads at once: one transfer, one answer for all."""
    service = build_service(db_url, ledger_id="twins", clock=ManualClock(), migrate=True)
    key, to = SigningKey.generate(), SigningKey.generate().address
    service.credit_deposit("cd" * 32, 0, key.address, 1_000, key.address)
    payload = pb.TransferPayload(from_account=key.address, to_account=to, amount=100, nonce=1)
    request = pb.TransferRequest(transfer=sign(key, "twins", payload))
    opened = open_signed("twins", request.transfer, pb.TransferPayload, "transfer")
    digest = request_digest("Transfer", request)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        results.append(service.transfer(key.address, to, 100, 1, "", opened.proof, request=digest))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert len(results) == 8 and len(set(map(repr, results))) == 1
        assert service.get_account(to).balance == 100
        assert service.get_account(key.address).balance == 900
        report = service.audit()
        assert report.balanced and report.totals.journal_entries == 2  # the deposit, the transfer
    finally:
        service.store.dispose()


def _hold_write_lock(
    db_url: str, account: str, held: threading.Event, done: threading.Event
) -> None:
    """Keep the database busy for `account` (SQLite: the write lock; PostgreSQL: its row)."""
    if is_sqlite(db_url):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn = psycopg.connect(libpq_url(db_url))  # type: ignore[assignment]
        conn.execute("SELECT 1 FROM accounts WHERE account_id = %s FOR UPDATE", (account,))
    held.set()
    done.wait(30)
    conn.rollback()
    conn.close()


def test_a_blocked_write_gives_up_by_its_deadline(db_url: str) -> None:
    service = build_service(
        db_url, ledger_id="busy", clock=ManualClock(), migrate=True, db_timeout=0.5
    )
    key, to = SigningKey.generate(), SigningKey.generate().address
    service.credit_deposit("ef" * 32, 0, key.address, 1_000, key.address)
    payload = pb.TransferPayload(from_account=key.address, to_account=to, amount=100, nonce=1)
    request = pb.TransferRequest(transfer=sign(key, "busy", payload))
    opened = open_signed("busy", request.transfer, pb.TransferPayload, "transfer")
    held, done = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(db_url, key.address, held, done))
    holder.start()
    try:
        assert held.wait(10)
        start = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            service.transfer(
                key.address, to, 100, 1, "", opened.proof, request=request_digest("T", request)
            )
        took = time.monotonic() - start
        assert 0.4 < took < 2.5  # two transaction timeouts at most
    finally:
        done.set()
        holder.join(10)
    try:
        assert service.get_account(key.address).balance == 1_000  # nothing was committed
        assert service.audit().totals.journal_entries == 1
    finally:
        service.store.dispose()
