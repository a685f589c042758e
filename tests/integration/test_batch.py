"""Batched writes answer every operation exactly as its single write would, on both stores.

The same random mix of transfers, state checkpoints and payee closes - valid ones, and ones that
must be refused (over the balance, reused and out-of-range nonces, a foreign signature, unknown
channels, stale states, resent duplicates) - is written once operation by operation through the
ordinary write path and once in batches of random sizes; every answer, every balance and the
audit must agree.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select, update

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_client import LedgerClient, LedgerRejected
from core.clock import ManualClock
from core.crypto import SigningKey
from core.envelopes import open_signed, request_digest, sign
from core.rejections import Rejected
from core.signing import derive_channel_id
from ledger.batch import BatchWriter, CloseOp, Op, Outcome, SubmitStateOp, TransferOp
from ledger.protocol import Refund
from ledger.rpc.server import build_service
from ledger.service import LedgerService
from ledger.storage import schema
from tests.ledger_harness import LedgerHarness

LEDGER = "batch-ledger"
FUNDS = 1_000


def _transfer(key: SigningKey, sender: str, to: str, amount: int, nonce: int) -> TransferOp:
    payload = pb.TransferPayload(from_account=sender, to_account=to, amount=amount, nonce=nonce)
    request = pb.TransferRequest(transfer=sign(key, LEDGER, payload))
    o = open_signed(LEDGER, request.transfer, pb.TransferPayload, "transfer")
    return TransferOp(sender, to, amount, nonce, "", o.proof, request_digest("Transfer", request))


def _state(key: SigningKey, cid: bytes, nonce: int, cumulative: int) -> SubmitStateOp:
    request = pb.SubmitStateRequest(
        state=sign(
            key, LEDGER, pb.ChannelStatePayload(channel_id=cid, nonce=nonce, cumulative=cumulative)
        )
    )
    o = open_signed(LEDGER, request.state, pb.ChannelStatePayload, "state")
    return SubmitStateOp(cid, nonce, cumulative, o.proof, request_digest("SubmitState", request))


def _close(key: SigningKey, cid: bytes, nonce: int, cumulative: int) -> CloseOp:
    payload = pb.CloseChannelPayload(channel_id=cid, nonce=nonce, cumulative=cumulative)
    request = pb.CloseChannelRequest(close=sign(key, LEDGER, payload))
    o = open_signed(LEDGER, request.close, pb.CloseChannelPayload, "close")
    return CloseOp(cid, None, nonce, cumulative, o.proof, request_digest("CloseChannel", request))


@dataclass
class World:
    keys: list[SigningKey]
    channels: list[tuple[bytes, SigningKey, SigningKey]]  # id, payer, payee


def _open_world(svc: LedgerService, world: World) -> None:
    for n, key in enumerate(world.keys):
        svc.credit_deposit(f"{n:064x}", 0, key.address, FUNDS, key.address)
    expiry = svc.now() + 3600
    for salt, (cid, payer, payee) in enumerate(world.channels):
        commitment = sign(
            payer,
            LEDGER,
            pb.OpenChannelPayload(
                payer=payer.address,
                payee=payee.address,
                deposit=300,
                expiry=expiry,
                salt=salt,
                channel_id=cid,
            ),
        )
        refund = sign(payee, LEDGER, pb.RefundPayload(channel_id=cid, expiry=expiry, version=0))
        c = open_signed(LEDGER, commitment, pb.OpenChannelPayload, "commitment")
        r = open_signed(LEDGER, refund, pb.RefundPayload, "refund")
        svc.open_channel(
            payer=payer.address,
            payee=payee.address,
            deposit=300,
            expiry=expiry,
            salt=salt,
            channel_id=cid,
            commitment=c.proof,
            refund=Refund(cid, expiry, 0, r.proof),
        )


def _random_ops(rng: random.Random, world: World, count: int) -> list[Op]:
    keys, ops = world.keys, []
    nonces = {k.address: 0 for k in keys}
    for _ in range(count):
        roll = rng.random()
        if ops and roll < 0.08:
            ops.append(rng.choice(ops))  # the same signed request again
        elif roll < 0.7:
            a, b = rng.sample(keys, 2)
            nonce = nonces[a.address] + rng.choice([1, 1, 1, 2, 0, -1])
            nonces[a.address] = max(nonces[a.address], nonce)
            amount = rng.choice([1, 5, 50, 400, 2_000])
            signer = a if rng.random() > 0.05 else b  # now and then a foreign signature
            ops.append(_transfer(signer, a.address, b.address, amount, max(nonce, 0)))
        elif roll < 0.9:
            cid, payer, _ = rng.choice(world.channels)
            n = rng.randint(1, 6)
            ops.append(_state(payer, cid, n, min(300, 40 * n + rng.choice([0, -50]))))
        else:
            cid, _, payee = rng.choice([*world.channels, (os.urandom(32), keys[0], keys[1])])
            ops.append(_close(payee, cid, 0, 0))
    return ops


def _single(svc: LedgerService, op: Op) -> Outcome:
    try:
        return Outcome(BatchWriter(svc)._single(op))
    except Rejected as rejected:
        return Outcome(error=rejected)


def _answer(o: Outcome) -> object:
    if o.error is not None:
        assert isinstance(o.error, Rejected), o.error
        return o.error.reason
    return o.value


def _balances(svc: LedgerService, world: World) -> dict[str, tuple[int, int]]:
    return {
        k.address: (svc.get_account(k.address).balance, svc.get_account(k.address).nonce)
        for k in world.keys
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_batches_answer_as_single_writes(db_url: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    keys = [SigningKey.generate() for _ in range(5)]
    world = World(
        keys,
        [
            (
                derive_channel_id(LEDGER, keys[i].address, keys[i + 1].address, i),
                keys[i],
                keys[i + 1],
            )
            for i in range(3)
        ],
    )
    ops = _random_ops(rng, world, 120)
    clock = ManualClock()
    one = build_service(
        f"sqlite:///{tmp_path / 'one.db'}", ledger_id=LEDGER, clock=clock, migrate=True
    )
    many = build_service(db_url, ledger_id=LEDGER, clock=clock, migrate=True)
    try:
        for svc in (one, many):
            _open_world(svc, world)
        expected = [_single(one, op) for op in ops]
        got: list[Outcome] = []
        writer = BatchWriter(many)
        while len(got) < len(ops):
            size = rng.choice([1, 2, 7, 30, 60])
            got += writer.run(ops[len(got) : len(got) + size])
        for n, (e, g) in enumerate(zip(expected, got, strict=True)):
            ea, ga = _answer(e), _answer(g)
            if isinstance(ea, tuple):  # transfer: entry ids differ between the two databases
                assert isinstance(ga, tuple)
                ea, ga = ea[0], ga[0]
            assert ga == ea, f"operation {n}: {ops[n]}"
        assert _balances(many, world) == _balances(one, world)
        assert sum(1 for e in expected if e.error is None) > 30  # the mix accepts plenty
        assert sum(1 for e in expected if e.error is not None) > 10  # and refuses some
        running, counted = many.recount()
        assert running == counted and running.balanced  # running journal totals kept exactly
    finally:
        one.store.dispose()
        many.store.dispose()


@pytest.fixture
def client(ledger_any: LedgerHarness) -> Iterator[LedgerClient]:
    key = SigningKey.generate()
    ledger_any.fund(key.address, FUNDS)
    with LedgerClient(ledger_any.target, key) as c:
        yield c


def test_submit_batch_over_grpc(ledger_any: LedgerHarness, client: LedgerClient) -> None:
    to = SigningKey.generate().address
    outcomes = client.transfer_many([(to, 100, "a"), (to, 5_000, "too much"), (to, 200, "b")])
    assert [o.error is None for o in outcomes] == [True, False, True]
    refused = outcomes[1].error
    assert isinstance(refused, LedgerRejected) and refused.reason == "INSUFFICIENT_FUNDS"
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    first, third = outcomes[0].unwrap(), outcomes[2].unwrap()
    assert isinstance(first, pb.TransferResponse) and isinstance(third, pb.TransferResponse)
    assert (first.from_account.balance, third.from_account.balance) == (900, 700)
    assert third.from_account.nonce == 3 and third.entry_id > first.entry_id
    assert client.balance() == 700 and client.balance(to) == 300

    # The same signed operations again, in a batch or alone: the first answers, no new effect.
    key = client.key
    assert key is not None
    payload = pb.TransferPayload(from_account=key.address, to_account=to, amount=1, nonce=9)
    op = pb.BatchOperation(
        transfer=pb.TransferRequest(transfer=sign(key, ledger_any.ledger_id, payload))
    )
    junk = pb.BatchOperation(transfer=pb.TransferRequest(transfer=pb.Signed(payload=b"\xff\xff")))
    batch = [op, junk, op]
    answers = client.submit_batch(batch)
    assert answers[0].unwrap() == answers[2].unwrap()
    assert isinstance(answers[1].error, LedgerRejected) and answers[1].error.reason == "MALFORMED"
    assert client.submit_batch(batch)[0].unwrap() == answers[0].unwrap()
    with grpc.insecure_channel(ledger_any.target) as ch:
        alone = pb_grpc.LedgerStub(ch).Transfer(op.transfer, timeout=10)
    assert alone == answers[0].unwrap()
    assert client.balance() == 699 and client.balance(to) == 301
    assert client.audit().balanced


def test_batch_carries_checkpoints_and_closes(ledger_any: LedgerHarness) -> None:
    payer, payee = SigningKey.generate(), SigningKey.generate()
    ledger_any.fund(payer.address, FUNDS)
    lid = ledger_any.ledger_id
    with LedgerClient(ledger_any.target, payer) as c:
        expiry = c.get_info().now + 3600
        cid = derive_channel_id(lid, payer.address, payee.address, 7)
        refund = sign(payee, lid, pb.RefundPayload(channel_id=cid, expiry=expiry, version=0))
        c.open_channel(payee.address, 500, expiry, 7, refund)

        def state(n: int, cumulative: int) -> pb.BatchOperation:
            s = sign(
                payer, lid, pb.ChannelStatePayload(channel_id=cid, nonce=n, cumulative=cumulative)
            )
            return pb.BatchOperation(submit_state=pb.SubmitStateRequest(state=s))

        close = sign(payee, lid, pb.CloseChannelPayload(channel_id=cid, nonce=2, cumulative=120))
        outcomes = c.submit_batch(
            [
                state(1, 50),
                state(2, 120),
                state(1, 60),  # stale: refused, the others stand
                pb.BatchOperation(close=pb.CloseChannelRequest(close=close)),
                state(3, 130),  # after the close: refused
            ]
        )
        reasons = [
            o.error.reason if isinstance(o.error, LedgerRejected) else None for o in outcomes
        ]
        assert reasons[0] is None and reasons[1] is None and reasons[3] is None
        assert reasons[2] == "STALE_STATE" and reasons[4] is not None
        settled = outcomes[3].unwrap()
        assert isinstance(settled, pb.Channel)
        assert (settled.paid_to_payee, settled.refunded_to_payer) == (120, 380)
        assert c.balance() == FUNDS - 120 and c.balance(payee.address) == 120
        assert c.audit().balanced


async def test_concurrent_single_writes_share_transactions_and_answer_alone(
    ledger_any: LedgerHarness,
) -> None:
    """Transfers sent at once go through group commit: overdrafts and a nonce raced by two
    different transfers are refused alone; every other transfer lands; the books balance."""
    lid = ledger_any.ledger_id
    senders = [SigningKey.generate() for _ in range(12)]
    for s in senders:
        ledger_any.fund(s.address, 100)
    to = SigningKey.generate().address

    def request(key: SigningKey, amount: int, nonce: int, memo: str = "") -> pb.TransferRequest:
        payload = pb.TransferPayload(
            from_account=key.address, to_account=to, amount=amount, nonce=nonce, memo=memo
        )
        return pb.TransferRequest(transfer=sign(key, lid, payload))

    # Even senders send 60, odd ones overdraw with 150; sender 0 also races a second transfer
    # with the same nonce.
    requests = [request(s, 60 if i % 2 == 0 else 150, 1) for i, s in enumerate(senders)]
    requests.append(request(senders[0], 10, 1, memo="twin"))
    async with grpc.aio.insecure_channel(ledger_any.target) as ch:
        stub = pb_grpc.LedgerStub(ch)

        async def send(r: pb.TransferRequest) -> str:
            try:
                await stub.Transfer(r, timeout=10)
                return "ok"
            except grpc.aio.AioRpcError as exc:
                return dict(exc.trailing_metadata() or ()).get("btt-reason", exc.code().name)

        answers = await asyncio.gather(*(send(r) for r in requests))
        accounts = [await stub.GetAccount(pb.GetAccountRequest(account=s.address)) for s in senders]
        audit = await pb_grpc.TreasuryStub(ch).Audit(
            pb.AuditRequest(), metadata=ledger_any.treasury_metadata()
        )
    assert answers[1:12:2] == ["INSUFFICIENT_FUNDS"] * 6
    assert answers[2:12:2] == ["ok"] * 5
    assert sorted([answers[0], answers[12]]) == ["NONCE_REUSED", "ok"]  # one of the twins
    paid_by_0 = 60 if answers[0] == "ok" else 10
    assert [a.balance for a in accounts] == [100 - paid_by_0] + [100, 40] * 5 + [100]
    assert audit.balanced


def test_running_totals_stay_exact_when_stripes_drift(db_url: str) -> None:
    """One stripe's nets may drift past 64 bits (its settles against another's opens) while the
    totals stay within the supply: the audit still adds them up exactly. SQLite keeps one row."""
    svc = build_service(db_url, ledger_id=LEDGER, clock=ManualClock(), migrate=True)
    try:
        keys = [SigningKey.generate() for _ in range(2)]
        _open_world(svc, World(keys, []))
        jt = schema.journal_totals
        with svc.store.transaction() as tx:
            if svc.store.dialect == "sqlite":
                used = tx.conn.execute(select(jt.c.stripe).where(jt.c.entries != 0)).scalars()
                assert list(used) == [0]
            else:
                for stripe, drift in ((1, 2**70), (2, -(2**70))):
                    tx.conn.execute(
                        update(jt)
                        .where(jt.c.stripe == stripe)
                        .values(account_net=jt.c.account_net + drift)
                    )
        BatchWriter(svc).run([_transfer(keys[0], keys[0].address, keys[1].address, 7, 1)])
        running, counted = svc.recount()
        assert running == counted and running.balanced
        assert running.totals.journal_account == 2 * FUNDS
    finally:
        svc.store.dispose()
