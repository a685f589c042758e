"""The ledger over real gRPC on 127.0.0.1: the whole lifecycle and every error class."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from core.envelopes import cosign, sign
from core.rejections import reason_of
from core.signing import derive_channel_id
from core.types import MAX_AMOUNT
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(120)


class Party:
    def __init__(self, harness: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
        self.key = SigningKey.generate()
        self.h = harness
        self.stub = stub
        self.nonce = 0

    @property
    def address(self) -> str:
        return self.key.address

    def sign(self, payload: object) -> pb.Signed:
        return sign(self.key, self.h.ledger_id, payload)  # type: ignore[arg-type]

    def transfer(self, to: str, amount: int, nonce: int | None = None) -> pb.TransferResponse:
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        t = pb.TransferPayload(from_account=self.address, to_account=to, amount=amount, nonce=nonce)
        return self.stub.Transfer(pb.TransferRequest(transfer=self.sign(t)), timeout=10)

    def balance(self) -> int:
        return self.stub.GetAccount(pb.GetAccountRequest(account=self.address), timeout=10).balance


@pytest.fixture
def stub(ledger: LedgerHarness) -> Iterator[pb_grpc.LedgerStub]:
    with grpc.insecure_channel(ledger.target) as channel:
        yield pb_grpc.LedgerStub(channel)


def expect(code: grpc.StatusCode, reason: str, fn: object, *args: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as exc:
        fn(*args)  # type: ignore[operator]
    err = exc.value
    assert err.code() == code, err.details()
    assert reason_of(err) == reason, err.details()
    assert err.details().startswith(reason)
    return err


class Channel:
    """Builds the signed messages of one channel between payer and payee."""

    def __init__(self, payer: Party, payee: Party, deposit: int, lifetime: int = 1000) -> None:
        self.payer, self.payee, self.deposit = payer, payee, deposit
        self.salt = int.from_bytes(os.urandom(7), "big")
        self.id = derive_channel_id(payer.h.ledger_id, payer.address, payee.address, self.salt)
        self.expiry = payer.h.clock.now() + lifetime

    def open_request(self) -> pb.OpenChannelRequest:
        commit = pb.OpenChannelPayload(
            payer=self.payer.address,
            payee=self.payee.address,
            deposit=self.deposit,
            expiry=self.expiry,
            salt=self.salt,
            channel_id=self.id,
        )
        refund = pb.RefundPayload(channel_id=self.id, expiry=self.expiry, version=0)
        return pb.OpenChannelRequest(
            commitment=self.payer.sign(commit), refund=self.payee.sign(refund)
        )

    def state(self, nonce: int, cumulative: int, signer: Party | None = None) -> pb.Signed:
        payload = pb.ChannelStatePayload(channel_id=self.id, nonce=nonce, cumulative=cumulative)
        return (signer or self.payer).sign(payload)

    def close(self, nonce: int, cumulative: int, with_state: bool = True) -> pb.CloseChannelRequest:
        close = self.payee.sign(
            pb.CloseChannelPayload(channel_id=self.id, nonce=nonce, cumulative=cumulative)
        )
        state = self.state(nonce, cumulative) if with_state else None
        return pb.CloseChannelRequest(state=state, close=close)

    def refund_claim(self, expiry: int | None = None, version: int = 0) -> pb.ClaimRefundRequest:
        refund = pb.RefundPayload(channel_id=self.id, expiry=expiry or self.expiry, version=version)
        return pb.ClaimRefundRequest(
            claim=self.payer.sign(pb.ClaimRefundPayload(channel_id=self.id)),
            refund=self.payee.sign(refund),
        )


def audit_ok(stub: pb_grpc.LedgerStub) -> pb.AuditResponse:
    audit = stub.Audit(pb.AuditRequest(), timeout=10)
    assert audit.balanced and audit.journal_imbalance == 0
    return audit


def test_health_and_info(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    with grpc.insecure_channel(ledger.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        reply = health.Check(health_pb2.HealthCheckRequest(service="btt.ledger.v1.Ledger"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    info = stub.GetInfo(pb.GetInfoRequest())
    assert info.ledger_id == "test-ledger" and info.now == ledger.clock.now()


def test_full_channel_lifecycle(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    payer, payee = Party(ledger, stub), Party(ledger, stub)
    ledger.fund(payer.address, 5_000_000)
    ch = Channel(payer, payee, 2_000_000)
    opened = stub.OpenChannel(ch.open_request()).channel
    assert opened.status == pb.CHANNEL_STATUS_OPEN and opened.deposit == 2_000_000
    assert payer.balance() == 3_000_000
    for nonce, cumulative in ((1, 100), (2, 300), (5, 900)):
        reply = stub.SubmitState(pb.SubmitStateRequest(state=ch.state(nonce, cumulative)))
        assert (reply.channel.best_nonce, reply.channel.best_cumulative) == (nonce, cumulative)
    # Top-up with a later expiry needs the payee's new refund.
    new_expiry = ch.expiry + 500
    topup = pb.TopUpRequest(
        topup=payer.sign(
            pb.TopUpPayload(
                channel_id=ch.id, additional_deposit=1_000_000, new_expiry=new_expiry, sequence=1
            )
        ),
        refund=payee.sign(pb.RefundPayload(channel_id=ch.id, expiry=new_expiry, version=1)),
    )
    topped = stub.TopUp(topup).channel
    assert (
        topped.deposit == 3_000_000 and topped.expiry == new_expiry and topped.topup_sequence == 1
    )
    closed = stub.CloseChannel(ch.close(7, 1_250_000)).channel
    assert closed.status == pb.CHANNEL_STATUS_SETTLED
    assert closed.settle_reason == pb.SETTLE_REASON_PAYEE_CLOSE
    assert (closed.paid_to_payee, closed.refunded_to_payer) == (1_250_000, 1_750_000)
    assert payee.balance() == 1_250_000 and payer.balance() == 3_750_000
    listed = stub.ListChannels(pb.ListChannelsRequest(party=payee.address)).channels
    assert [c.channel_id for c in listed] == [ch.id]
    audit = audit_ok(stub)
    assert audit.channel_escrow == 0 and audit.account_balances == 5_000_000


def test_cooperative_close_and_request_close(
    ledger: LedgerHarness, stub: pb_grpc.LedgerStub
) -> None:
    payer, payee = Party(ledger, stub), Party(ledger, stub)
    ledger.fund(payer.address, 1_000)
    a, b = Channel(payer, payee, 400), Channel(payer, payee, 400)
    stub.OpenChannel(a.open_request())
    stub.OpenChannel(b.open_request())
    coop = payer.sign(pb.CooperativeClosePayload(channel_id=a.id, cumulative=150))
    both = cosign(payee.key, ledger.ledger_id, coop, pb.CooperativeClosePayload)
    settled = stub.CooperativeClose(
        pb.CooperativeCloseRequest(payer_close=coop, payee_close=both)
    ).channel
    assert settled.paid_to_payee == 150 and settled.settle_reason == pb.SETTLE_REASON_COOPERATIVE
    # Payer-initiated close: CLOSING, the payee answers with a better state inside the window.
    stub.SubmitState(pb.SubmitStateRequest(state=b.state(1, 50)))
    req = payer.sign(pb.RequestClosePayload(channel_id=b.id))
    closing = stub.RequestClose(pb.RequestCloseRequest(request=req)).channel
    assert closing.status == pb.CHANNEL_STATUS_CLOSING
    stub.SubmitState(pb.SubmitStateRequest(state=b.state(2, 120)))
    ledger.clock.advance(ledger.service.challenge_window)
    expect(
        grpc.StatusCode.FAILED_PRECONDITION,
        "CHALLENGE_OVER",
        stub.SubmitState,
        pb.SubmitStateRequest(state=b.state(3, 200)),
    )
    assert ledger.sweep() == 1
    swept = stub.GetChannel(pb.GetChannelRequest(channel_id=b.id)).channel
    assert swept.settle_reason == pb.SETTLE_REASON_CHALLENGE_EXPIRED
    assert swept.paid_to_payee == 120
    assert payee.balance() == 270 and payer.balance() == 730
    audit_ok(stub)


def test_refund_after_expiry_honours_checkpoint(
    ledger: LedgerHarness, stub: pb_grpc.LedgerStub
) -> None:
    payer, payee = Party(ledger, stub), Party(ledger, stub)
    ledger.fund(payer.address, 1_000)
    ch = Channel(payer, payee, 1_000, lifetime=100)
    stub.OpenChannel(ch.open_request())
    stub.SubmitState(pb.SubmitStateRequest(state=ch.state(4, 333)))
    expect(
        grpc.StatusCode.FAILED_PRECONDITION, "NOT_YET_EXPIRED", stub.ClaimRefund, ch.refund_claim()
    )
    ledger.clock.advance(100)
    expect(
        grpc.StatusCode.FAILED_PRECONDITION, "CHANNEL_EXPIRED", stub.CloseChannel, ch.close(5, 500)
    )
    refunded = stub.ClaimRefund(ch.refund_claim()).channel
    assert refunded.settle_reason == pb.SETTLE_REASON_REFUND
    assert (refunded.paid_to_payee, refunded.refunded_to_payer) == (333, 667)
    # The same claim again gets the same answer; any other settling request is refused.
    assert stub.ClaimRefund(ch.refund_claim()).channel == refunded
    expect(
        grpc.StatusCode.FAILED_PRECONDITION, "CHANNEL_SETTLED", stub.CloseChannel, ch.close(4, 333)
    )
    audit_ok(stub)


def test_sweeper_settles_expired_channels(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    payer, payee = Party(ledger, stub), Party(ledger, stub)
    ledger.fund(payer.address, 100)
    ch = Channel(payer, payee, 100, lifetime=10)
    stub.OpenChannel(ch.open_request())
    stub.SubmitState(pb.SubmitStateRequest(state=ch.state(1, 10)))
    assert ledger.sweep() == 0
    ledger.clock.advance(10)
    assert ledger.sweep() == 1
    assert payer.balance() == 90 and payee.balance() == 10
    assert audit_ok(stub).channel_escrow == 0


def test_error_classes(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    payer, payee, other = Party(ledger, stub), Party(ledger, stub), Party(ledger, stub)
    ledger.fund(payer.address, 10_000)
    before = stub.Audit(pb.AuditRequest())
    code = grpc.StatusCode

    # Bad signature bytes, and a valid signature by the wrong key.
    t = pb.TransferPayload(from_account=payer.address, to_account=payee.address, amount=1, nonce=1)
    signed = payer.sign(t)
    signed.signature = signed.signature[:64]
    expect(
        code.UNAUTHENTICATED, "BAD_SIGNATURE", stub.Transfer, pb.TransferRequest(transfer=signed)
    )
    forged = other.sign(t)
    expect(
        code.PERMISSION_DENIED, "WRONG_SIGNER", stub.Transfer, pb.TransferRequest(transfer=forged)
    )
    # Signed for another ledger: rejected as not signed by the sender.
    elsewhere = sign(payer.key, "another-ledger", t)
    expect(
        code.PERMISSION_DENIED,
        "WRONG_SIGNER",
        stub.Transfer,
        pb.TransferRequest(transfer=elsewhere),
    )
    # The same signed transfer again is answered as the first time and moves nothing more; another
    # transfer with a used nonce is refused.
    first = payer.transfer(payee.address, 10, nonce=1)
    assert payer.transfer(payee.address, 10, nonce=1) == first
    assert payer.balance() == 9_990
    expect(code.ALREADY_EXISTS, "NONCE_REUSED", payer.transfer, payee.address, 11, 1)
    # Amounts: zero, negative, over the maximum, over the balance.
    expect(code.INVALID_ARGUMENT, "INVALID_AMOUNT", payer.transfer, payee.address, 0, 2)
    expect(code.INVALID_ARGUMENT, "INVALID_AMOUNT", payer.transfer, payee.address, -5, 2)
    expect(
        code.INVALID_ARGUMENT, "AMOUNT_OVERFLOW", payer.transfer, payee.address, MAX_AMOUNT + 1, 2
    )
    expect(code.FAILED_PRECONDITION, "INSUFFICIENT_FUNDS", payer.transfer, payee.address, 10**9, 2)
    expect(code.INVALID_ARGUMENT, "INVALID_ADDRESS", payer.transfer, "not-an-address", 1, 2)
    # Malformed bytes.
    junk = pb.Signed(payload=b"\xff\xff\xff", signature=b"\x00" * 65)
    expect(code.INVALID_ARGUMENT, "MALFORMED", stub.Transfer, pb.TransferRequest(transfer=junk))
    expect(code.INVALID_ARGUMENT, "MALFORMED", stub.Transfer, pb.TransferRequest())
    # Unknown ids.
    expect(
        code.NOT_FOUND,
        "UNKNOWN_CHANNEL",
        stub.GetChannel,
        pb.GetChannelRequest(channel_id=b"\x00" * 32),
    )
    # Channel: lower state after a higher one, replayed state, over deposit, wrong signer.
    # (The very same request again is answered as the first time; other requests are refused.)
    ch = Channel(payer, payee, 1_000)
    opened = stub.OpenChannel(ch.open_request())
    assert stub.OpenChannel(ch.open_request()) == opened
    ch.deposit = 900  # the same channel id, other terms
    expect(code.ALREADY_EXISTS, "CHANNEL_EXISTS", stub.OpenChannel, ch.open_request())
    ch.deposit = 1_000
    checkpointed = stub.SubmitState(pb.SubmitStateRequest(state=ch.state(5, 500)))
    assert stub.SubmitState(pb.SubmitStateRequest(state=ch.state(5, 500))) == checkpointed
    expect(
        code.FAILED_PRECONDITION,
        "STALE_STATE",
        stub.SubmitState,
        pb.SubmitStateRequest(state=ch.state(5, 499)),
    )
    expect(
        code.FAILED_PRECONDITION,
        "STALE_STATE",
        stub.SubmitState,
        pb.SubmitStateRequest(state=ch.state(4, 600)),
    )
    expect(
        code.FAILED_PRECONDITION,
        "CUMULATIVE_DECREASED",
        stub.SubmitState,
        pb.SubmitStateRequest(state=ch.state(6, 400)),
    )
    expect(
        code.INVALID_ARGUMENT,
        "EXCEEDS_DEPOSIT",
        stub.SubmitState,
        pb.SubmitStateRequest(state=ch.state(6, 1_001)),
    )
    expect(
        code.PERMISSION_DENIED,
        "WRONG_SIGNER",
        stub.SubmitState,
        pb.SubmitStateRequest(state=ch.state(6, 700, signer=payee)),
    )
    # A payee closing with a forged state (signed by itself) or a stale one.
    forged_close = pb.CloseChannelRequest(
        state=ch.state(9, 900, signer=payee),
        close=payee.sign(pb.CloseChannelPayload(channel_id=ch.id, nonce=9, cumulative=900)),
    )
    expect(code.PERMISSION_DENIED, "WRONG_SIGNER", stub.CloseChannel, forged_close)
    expect(code.FAILED_PRECONDITION, "STALE_STATE", stub.CloseChannel, ch.close(3, 300))
    # Refund before expiry.
    expect(code.FAILED_PRECONDITION, "NOT_YET_EXPIRED", stub.ClaimRefund, ch.refund_claim())
    # Treasury without the token.
    treasury = pb_grpc.TreasuryStub(grpc.insecure_channel(ledger.target))
    credit = pb.CreditDepositRequest(txid="ab" * 32, account=payer.address, amount=10**6)
    expect(code.UNAUTHENTICATED, "UNAUTHENTICATED", treasury.CreditDeposit, credit)
    # Nothing above moved money except the one good transfer and the open.
    after = stub.Audit(pb.AuditRequest())
    assert (
        after.balanced and after.account_balances + after.channel_escrow == before.account_balances
    )
    assert payer.balance() == 10_000 - 10 - 1_000


def test_rich_error_details(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    from google.rpc import error_details_pb2

    err = expect(
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_CHANNEL",
        stub.GetChannel,
        pb.GetChannelRequest(channel_id=b"\x01" * 32),
    )
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "UNKNOWN_CHANNEL" and info.domain == "btt-ledger"


def test_oversized_message_is_refused(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    big = pb.Signed(payload=b"\x00" * 200_000, signature=b"")
    with pytest.raises(grpc.RpcError) as exc:
        stub.Transfer(pb.TransferRequest(transfer=big), timeout=10)
    assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.GetInfo(pb.GetInfoRequest()).ledger_id  # still serving


def test_event_stream(ledger: LedgerHarness, stub: pb_grpc.LedgerStub) -> None:
    payer, payee = Party(ledger, stub), Party(ledger, stub)
    start = stub.GetInfo(pb.GetInfoRequest()).last_event_id
    with grpc.insecure_channel(ledger.target) as ch:
        stream = pb_grpc.LedgerStub(ch).Subscribe(
            pb.SubscribeRequest(account=payee.address, after_event_id=start), timeout=20
        )
        ledger.fund(payer.address, 500)
        c = Channel(payer, payee, 200)
        stub.OpenChannel(c.open_request())
        stub.SubmitState(pb.SubmitStateRequest(state=c.state(1, 20)))
        stub.CloseChannel(c.close(1, 20, with_state=False))
        kinds = []
        for event in stream:
            kinds.append(event.kind)
            if event.kind == pb.EVENT_KIND_CHANNEL_SETTLED:
                assert event.channel.paid_to_payee == 20
                break
        stream.cancel()
    assert kinds == [
        pb.EVENT_KIND_CHANNEL_OPENED,
        pb.EVENT_KIND_CHANNEL_UPDATED,
        pb.EVENT_KIND_CHANNEL_SETTLED,
    ]


async def test_concurrent_double_spend_from_many_clients(ledger: LedgerHarness) -> None:
    """32 clients race to spend one balance: one transfer and one channel open can win."""
    key = SigningKey.generate()
    ledger.fund(key.address, 1_000)
    payees = [SigningKey.generate() for _ in range(32)]
    async with grpc.aio.insecure_channel(ledger.target) as channel:
        stub = pb_grpc.LedgerStub(channel)

        async def transfer(i: int) -> str:
            t = pb.TransferPayload(
                from_account=key.address, to_account=payees[i].address, amount=600, nonce=i + 1
            )
            try:
                await stub.Transfer(pb.TransferRequest(transfer=sign(key, ledger.ledger_id, t)))
                return "ok"
            except grpc.aio.AioRpcError as exc:
                return reason_of(exc) or exc.code().name

        async def open_channel(i: int) -> str:
            salt = 1000 + i
            cid = derive_channel_id(ledger.ledger_id, key.address, payees[i].address, salt)
            expiry = ledger.clock.now() + 100
            commit = pb.OpenChannelPayload(
                payer=key.address,
                payee=payees[i].address,
                deposit=600,
                expiry=expiry,
                salt=salt,
                channel_id=cid,
            )
            refund = pb.RefundPayload(channel_id=cid, expiry=expiry, version=0)
            try:
                await stub.OpenChannel(
                    pb.OpenChannelRequest(
                        commitment=sign(key, ledger.ledger_id, commit),
                        refund=sign(payees[i], ledger.ledger_id, refund),
                    )
                )
                return "ok"
            except grpc.aio.AioRpcError as exc:
                return reason_of(exc) or exc.code().name

        results = await asyncio.gather(
            *(transfer(i) if i % 2 else open_channel(i) for i in range(32))
        )
        audit = await stub.Audit(pb.AuditRequest())
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"INSUFFICIENT_FUNDS", "NONCE_REUSED"}
    assert audit.balanced and audit.account_balances + audit.channel_escrow == 1_000
