"""One contract suite for every storage backend: each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from btt.ledger.v1 import ledger_pb2 as pb
from core.clock import ManualClock
from core.crypto import SigningKey
from core.database import make_engine
from core.envelopes import open_signed, sign
from core.rejections import Rejected, Rejection
from core.signing import derive_channel_id
from core.status import ChannelStatus
from core.types import Amount, ChannelId, Timestamp
from ledger.domain import Channel
from ledger.protocol import Bucket, Movement, Refund
from ledger.rpc.server import ConfigError, build_service
from ledger.service import LedgerService
from ledger.storage.migrate import upgrade
from ledger.storage.schema import metadata
from ledger.storage.store import Store

LEDGER = "contract-ledger"


@pytest.fixture
def service(db_url: str) -> Iterator[LedgerService]:
    svc = build_service(db_url, ledger_id=LEDGER, clock=ManualClock(), migrate=True)
    yield svc
    svc.store.dispose()


def fund(svc: LedgerService, account: str, amount: int) -> None:
    new, _ = svc.credit_deposit(os.urandom(32).hex(), 0, account, amount, account)
    assert new


def transfer(svc: LedgerService, key: SigningKey, to: str, amount: int, nonce: int) -> None:
    signed = sign(
        key,
        LEDGER,
        pb.TransferPayload(from_account=key.address, to_account=to, amount=amount, nonce=nonce),
    )
    o = open_signed(LEDGER, signed, pb.TransferPayload, "transfer")
    svc.transfer(key.address, to, amount, nonce, "", o.proof)


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    engine.dispose()
    assert diff == []


def test_ledger_id_is_pinned(db_url: str) -> None:
    svc = build_service(db_url, ledger_id="first", migrate=True)
    svc.store.dispose()
    again = build_service(db_url, migrate=True)
    assert again.ledger_id == "first"
    again.store.dispose()
    with pytest.raises(ConfigError):
        build_service(db_url, ledger_id="second", migrate=True)


def test_accounts_are_created_and_locked_in_order(service: LedgerService) -> None:
    a, b = SigningKey.generate().address, SigningKey.generate().address
    with service.store.transaction() as tx:
        got = tx.accounts([b, a, a], create_at=Timestamp(1))
        assert set(got) == {a, b} and all(x.balance == 0 for x in got.values())
        tx.post(
            [Movement(Bucket("chain", "deposits"), Bucket.account(a), Amount(70))],
            op="t",
            reference="r",
            at=Timestamp(1),
        )
    with service.store.reader() as tx:
        assert tx.accounts([a])[a].balance == 70


def test_rollback_leaves_nothing(service: LedgerService) -> None:
    a = SigningKey.generate().address
    with pytest.raises(RuntimeError), service.store.transaction() as tx:
        tx.accounts([a], create_at=Timestamp(1))
        tx.post(
            [Movement(Bucket("chain", "deposits"), Bucket.account(a), Amount(5))],
            op="t",
            reference="r",
            at=Timestamp(1),
        )
        raise RuntimeError("abort")
    with service.store.reader() as tx:
        assert tx.accounts([a]) == {}
        assert tx.totals().journal_entries == 0


def test_channel_round_trip(service: LedgerService) -> None:
    c = Channel(
        channel_id=ChannelId(b"\x01" * 32),
        payer=SigningKey.generate().address,
        payee=SigningKey.generate().address,
        deposit=Amount(100),
        expiry=Timestamp(5000),
        status=ChannelStatus.OPEN,
        opened_at=Timestamp(10),
        refund_signature=b"\x02" * 65,
    )
    with service.store.transaction() as tx:
        tx.insert_channel(c)
    with service.store.transaction() as tx:
        assert tx.channel(c.channel_id) == c
        tx.update_channel(
            Channel(
                **{
                    **{f: getattr(c, f) for f in c.__slots__},
                    "best_nonce": 3,
                    "best_cumulative": 40,
                }
            )  # type: ignore[arg-type]
        )
    with service.store.reader() as tx:
        got = tx.channel(c.channel_id)
        assert got is not None and got.best_cumulative == 40
        assert tx.list_channels(party=c.payee, status=ChannelStatus.OPEN, limit=10, after=b"") == [
            got
        ]
        assert (
            tx.list_channels(party=c.payee, status=ChannelStatus.SETTLED, limit=10, after=b"") == []
        )
        assert tx.due_channel_ids(Timestamp(4999), 10) == []
        assert tx.due_channel_ids(Timestamp(5000), 10) == [c.channel_id]


def test_deposit_credit_is_idempotent(service: LedgerService) -> None:
    a = SigningKey.generate().address
    txid = os.urandom(32).hex()
    assert service.credit_deposit(txid, 0, a, 500, a)[0] is True
    assert service.credit_deposit(txid, 0, a, 500, a)[0] is False
    assert service.credit_deposit(txid, 1, a, 500, a)[0] is True
    with pytest.raises(Rejected) as exc:
        service.credit_deposit(txid, 0, a, 501, a)
    assert exc.value.reason is Rejection.DEPOSIT_CONFLICT
    assert service.get_account(a).balance == 1000
    report = service.audit()
    assert report.balanced and report.totals.deposits_credited == 1000


def test_withdrawal_lifecycle_and_audit(service: LedgerService) -> None:
    key = SigningKey.generate()
    fund(service, key.address, 1_000)
    payload = pb.WithdrawalPayload(
        account=key.address, tron_address=key.address, amount=400, nonce=1
    )
    o = open_signed(LEDGER, sign(key, LEDGER, payload), pb.WithdrawalPayload, "w")
    w = service.request_withdrawal(key.address, key.address, 400, 1, o.proof)
    assert service.get_account(key.address).balance == 600
    assert service.audit().totals.pending_withdrawals == 400
    failed = service.mark_withdrawal_failed(w.withdrawal_id, "node said no")
    assert failed.status == "failed" and service.get_account(key.address).balance == 1_000
    with pytest.raises(Rejected) as exc:
        service.mark_withdrawal_paid(w.withdrawal_id, "ab" * 32)
    assert exc.value.reason is Rejection.WITHDRAWAL_NOT_PENDING
    payload.nonce = 2
    o = open_signed(LEDGER, sign(key, LEDGER, payload), pb.WithdrawalPayload, "w")
    w2 = service.request_withdrawal(key.address, key.address, 400, 2, o.proof)
    paid = service.mark_withdrawal_paid(w2.withdrawal_id, "cd" * 32)
    assert paid.status == "paid" and paid.txid == "cd" * 32
    assert service.mark_withdrawal_paid(w2.withdrawal_id, "cd" * 32).status == "paid"
    report = service.audit()
    assert report.balanced
    assert report.totals.withdrawals_paid == 400 and report.totals.account_balances == 600


def test_events_are_ordered_outbox(service: LedgerService) -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    start = service.last_event_id()
    fund(service, a.address, 100)
    transfer(service, a, b.address, 30, 1)
    kinds = [(e.kind, e.amount) for e in service.events_after(start)]
    assert kinds == [("credit", 100), ("transfer", 30)]


def test_concurrent_double_spend_has_one_winner(service: LedgerService) -> None:
    """Many threads spend the same balance with distinct nonces: exactly one transfer wins."""
    key = SigningKey.generate()
    fund(service, key.address, 100)
    recipients = [SigningKey.generate().address for _ in range(12)]
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(recipients))

    def spend(i: int) -> None:
        barrier.wait()
        try:
            transfer(service, key, recipients[i], 100, i + 1)
            result = "ok"
        except Rejected as exc:
            result = exc.reason.value
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(len(recipients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("ok") == 1
    assert set(outcomes) - {"ok"} <= {"INSUFFICIENT_FUNDS", "NONCE_REUSED"}
    assert sum(service.get_account(r).balance for r in recipients) == 100
    assert service.get_account(key.address).balance == 0
    assert service.audit().balanced


def test_two_ledger_processes_share_one_database(db_url: str) -> None:
    """Two services (as two processes would) on one database never double-spend a channel open."""
    one = build_service(db_url, ledger_id=LEDGER, clock=ManualClock(), migrate=True)
    two = build_service(db_url, ledger_id=LEDGER, clock=ManualClock(), migrate=False)
    payer, payee = SigningKey.generate(), SigningKey.generate()
    fund(one, payer.address, 1_000)
    now = one.now()
    results: list[str] = []
    lock = threading.Lock()

    def open_on(svc: LedgerService, salt: int) -> None:
        cid = derive_channel_id(LEDGER, payer.address, payee.address, salt)
        commit = pb.OpenChannelPayload(
            payer=payer.address,
            payee=payee.address,
            deposit=800,
            expiry=now + 100,
            salt=salt,
            channel_id=cid,
        )
        refund = pb.RefundPayload(channel_id=cid, expiry=now + 100, version=0)
        c = open_signed(LEDGER, sign(payer, LEDGER, commit), pb.OpenChannelPayload, "c")
        r = open_signed(LEDGER, sign(payee, LEDGER, refund), pb.RefundPayload, "r")
        try:
            svc.open_channel(
                payer=payer.address,
                payee=payee.address,
                deposit=800,
                expiry=now + 100,
                salt=salt,
                channel_id=cid,
                commitment=c.proof,
                refund=Refund(cid, now + 100, 0, r.proof),
            )
            outcome = "ok"
        except Rejected as exc:
            outcome = exc.reason.value
        with lock:
            results.append(outcome)

    threads = [
        threading.Thread(target=open_on, args=(svc, salt))
        for salt in range(1, 9)
        for svc in (one, two)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count("ok") == 1
    assert set(results) - {"ok"} <= {"INSUFFICIENT_FUNDS", "CHANNEL_EXISTS"}
    assert one.audit().balanced and two.audit().totals.channel_escrow == 800
    one.store.dispose()
    two.store.dispose()


def test_store_dialect(service: LedgerService) -> None:
    assert isinstance(service.store, Store)
    assert service.store.dialect in {"sqlite", "postgresql"}
