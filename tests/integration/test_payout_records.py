"""Treasury payout records and the bridge lease over real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from core.envelopes import sign
from core.rejections import reason_of
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(60)


def txid_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Treasury:
    def __init__(self, harness: LedgerHarness, channel: grpc.Channel) -> None:
        self.stub = pb_grpc.TreasuryStub(channel)
        self.meta = harness.treasury_metadata()

    def lease(self, holder: str, ttl: int = 30) -> pb.LeaseResponse:
        request = pb.AcquireLeaseRequest(holder=holder, ttl_seconds=ttl)
        return self.stub.AcquireLease(request, metadata=self.meta, timeout=10)

    def release(self, holder: str) -> pb.LeaseResponse:
        request = pb.ReleaseLeaseRequest(holder=holder)
        return self.stub.ReleaseLease(request, metadata=self.meta, timeout=10)

    def record(
        self, wid: int, holder: str, signed: bytes, replaces: str = "", expiration: int = 10**12
    ) -> pb.Payout:
        request = pb.RecordPayoutTxRequest(
            withdrawal_id=wid,
            holder=holder,
            replaces_txid=replaces,
            txid=txid_of(signed),
            expiration_ms=expiration,
            signed_tx=signed,
        )
        return self.stub.RecordPayoutTx(request, metadata=self.meta, timeout=10).payout

    def payouts(self, status: str = "") -> list[pb.Payout]:
        request = pb.ListWithdrawalsRequest(status=status)
        return list(self.stub.ListPayouts(request, metadata=self.meta, timeout=10).payouts)


def reason(call: object) -> str | None:
    with pytest.raises(grpc.RpcError) as err:
        call()  # type: ignore[operator]
    return reason_of(err.value)


def withdraw(harness: LedgerHarness, channel: grpc.Channel, amount: int) -> int:
    key = SigningKey.generate()
    harness.fund(key.address, amount)
    payload = pb.WithdrawalPayload(
        account=key.address, tron_address=key.address, amount=amount, nonce=1
    )
    request = pb.RequestWithdrawalRequest(withdrawal=sign(key, harness.ledger_id, payload))
    reply = pb_grpc.LedgerStub(channel).RequestWithdrawal(request, timeout=10)
    return int(reply.withdrawal.withdrawal_id)


def test_lease_is_exclusive_until_it_expires_or_is_released(ledger_any: LedgerHarness) -> None:
    with grpc.insecure_channel(ledger_any.target) as channel:
        t = Treasury(ledger_any, channel)
        first = t.lease("bridge-a", ttl=30)
        assert first.granted and first.holder == "bridge-a"
        assert first.expires_at == ledger_any.clock.now() + 30
        other = t.lease("bridge-b")
        assert not other.granted and (other.holder, other.expires_at) == (
            "bridge-a",
            first.expires_at,
        )
        ledger_any.clock.advance(10)
        renewed = t.lease("bridge-a", ttl=30)
        assert renewed.granted and renewed.expires_at == first.expires_at + 10
        assert t.release("bridge-b").holder == "bridge-a"  # not the holder: nothing changes
        ledger_any.clock.advance(30)  # expired: anyone may take it
        assert t.lease("bridge-b").granted
        assert t.release("bridge-b").holder == ""
        assert t.lease("bridge-a").granted
        assert reason(lambda: t.lease("", 30)) == "MALFORMED"
        assert reason(lambda: t.lease("x", 0)) == "MALFORMED"
        assert reason(lambda: t.lease("x\x00y", 30)) == "MALFORMED"


def test_payout_records_need_the_lease_and_replace_only_the_latest(
    ledger_any: LedgerHarness,
) -> None:
    with grpc.insecure_channel(ledger_any.target) as channel:
        t = Treasury(ledger_any, channel)
        wid = withdraw(ledger_any, channel, 5_000)
        tx0, tx1, tx2 = b"signed-0", b"signed-1", b"signed-2"
        assert reason(lambda: t.record(wid, "bridge-a", tx0)) == "LEASE_NOT_HELD"
        assert t.lease("bridge-a").granted
        payout = t.record(wid, "bridge-a", tx0, expiration=1234)
        assert [(r.txid, r.seq, r.expiration_ms, r.signed_tx) for r in payout.txs] == [
            (txid_of(tx0), 0, 1234, tx0)
        ]
        # A repeat (lost reply) changes nothing, even without the lease any more.
        assert t.release("bridge-a").holder == ""
        assert len(t.record(wid, "bridge-a", tx0).txs) == 1
        assert t.lease("bridge-a").granted
        # A second first tx, or a replacement of anything but the latest, is a conflict.
        assert reason(lambda: t.record(wid, "bridge-a", tx1)) == "PAYOUT_CONFLICT"
        wrong = txid_of(b"nothing")
        assert reason(lambda: t.record(wid, "bridge-a", tx1, replaces=wrong)) == "PAYOUT_CONFLICT"
        replaced = t.record(wid, "bridge-a", tx1, replaces=txid_of(tx0))
        assert [r.seq for r in replaced.txs] == [0, 1]
        assert reason(lambda: t.record(wid, "bridge-a", tx2, replaces=txid_of(tx0))) == (
            "PAYOUT_CONFLICT"
        )
        # Another withdrawal cannot claim a recorded tx.
        other = withdraw(ledger_any, channel, 1_000)
        assert reason(lambda: t.record(other, "bridge-a", tx0)) == "PAYOUT_CONFLICT"
        (listed,) = [p for p in t.payouts("pending") if p.withdrawal.withdrawal_id == wid]
        assert [r.txid for r in listed.txs] == [txid_of(tx0), txid_of(tx1)]
        # Malformed input and unknown or closed withdrawals are refused with a precise reason.
        bad = pb.RecordPayoutTxRequest(
            withdrawal_id=wid, holder="bridge-a", txid="zz", expiration_ms=1, signed_tx=b"x"
        )
        assert (
            reason(lambda: t.stub.RecordPayoutTx(bad, metadata=t.meta, timeout=10)) == "MALFORMED"
        )
        assert reason(lambda: t.record(wid, "bridge-a", b"", replaces=txid_of(tx1))) == (
            "MALFORMED"
        )
        assert reason(lambda: t.record(wid, "bridge-a", b"y" * 4097)) == "MALFORMED"
        assert reason(lambda: t.record(2**63, "bridge-a", b"z")) == "MALFORMED"
        assert reason(lambda: t.record(10**6, "bridge-a", b"z")) == "UNKNOWN_WITHDRAWAL"
        t.stub.MarkWithdrawalPaid(
            pb.MarkWithdrawalPaidRequest(withdrawal_id=wid, txid=txid_of(tx1)),
            metadata=t.meta,
            timeout=10,
        )
        assert reason(lambda: t.record(wid, "bridge-a", tx2, replaces=txid_of(tx1))) == (
            "WITHDRAWAL_NOT_PENDING"
        )
        (paid,) = t.payouts("paid")
        assert paid.withdrawal.txid == txid_of(tx1) and len(paid.txs) == 2
        assert (
            reason(
                lambda: pb_grpc.TreasuryStub(channel).ListPayouts(
                    pb.ListWithdrawalsRequest(), timeout=10
                )
            )
            == "UNAUTHENTICATED"
        )


def test_racing_first_records_have_one_winner(ledger_any: LedgerHarness) -> None:
    with grpc.insecure_channel(ledger_any.target) as channel:
        t = Treasury(ledger_any, channel)
        wid = withdraw(ledger_any, channel, 5_000)
        assert t.lease("bridge-a").granted

        def attempt(i: int) -> str:
            try:
                t.record(wid, "bridge-a", f"candidate-{i}".encode())
            except grpc.RpcError as exc:
                return str(reason_of(exc))
            return "ok"

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(attempt, range(8)))
        assert sorted(outcomes) == ["PAYOUT_CONFLICT"] * 7 + ["ok"]
        (payout,) = t.payouts("pending")
        assert len(payout.txs) == 1
