"""Inputs at the edges get one precise answer, the same on SQLite and PostgreSQL; the total-supply
cap; audit sums past int64; users reading their own withdrawals."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_client import LedgerClient, LedgerRejected
from core.crypto import SigningKey
from core.envelopes import sign
from core.rejections import reason_of
from core.signing import signing_digest
from core.types import INT64_MAX, MAX_SUPPLY
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(120)

OVERLONG_AMOUNT = b"\x18" + b"\xff" * 9 + b"\x03"  # field 3 (amount), 65 significant bits


class Ledger:
    """Raw stubs on one ledger, a funded account and a pending withdrawal."""

    def __init__(self, h: LedgerHarness, channel: grpc.Channel) -> None:
        self.h = h
        self.channel = channel
        self.stub = pb_grpc.LedgerStub(channel)
        self.treasury = pb_grpc.TreasuryStub(channel)
        self.token = h.treasury_metadata()
        self.key = SigningKey.generate()
        self.nonce = 0

    def credit(
        self, account: str, amount: int, txid: str | None = None
    ) -> pb.CreditDepositResponse:
        return self.treasury.CreditDeposit(
            pb.CreditDepositRequest(
                txid=txid or os.urandom(32).hex(), account=account, amount=amount, tron_from=account
            ),
            metadata=self.token,
        )

    def withdraw(self, key: SigningKey, amount: int) -> pb.Withdrawal:
        account = self.stub.GetAccount(pb.GetAccountRequest(account=key.address))
        payload = pb.WithdrawalPayload(
            account=key.address, tron_address=key.address, amount=amount, nonce=account.nonce + 1
        )
        signed = sign(key, self.h.ledger_id, payload)
        return self.stub.RequestWithdrawal(
            pb.RequestWithdrawalRequest(withdrawal=signed)
        ).withdrawal

    def transfer_payload(self, data: bytes) -> pb.TransferRequest:
        digest = signing_digest(self.h.ledger_id, "TransferPayload", data)
        return pb.TransferRequest(
            transfer=pb.Signed(payload=data, signature=self.key.sign_digest(digest))
        )

    def transfer(self, key: SigningKey, to: str, amount: int, memo: str = "") -> None:
        self.nonce += 1
        payload = pb.TransferPayload(
            from_account=key.address, to_account=to, amount=amount, nonce=self.nonce, memo=memo
        )
        self.stub.Transfer(pb.TransferRequest(transfer=sign(key, self.h.ledger_id, payload)))


@pytest.fixture
def ledger_rpc(ledger_any: LedgerHarness) -> Iterator[Ledger]:
    with grpc.insecure_channel(ledger_any.target) as channel:
        yield Ledger(ledger_any, channel)


def answer(call: Callable[[], object]) -> tuple[str, str | None, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code().name, reason_of(exc), exc.details()  # type: ignore[attr-defined]
    return "OK", None, ""


def test_edge_inputs_get_one_precise_answer_on_either_store(ledger_rpc: Ledger) -> None:
    r = ledger_rpc
    r.credit(r.key.address, 1_000)
    pending = r.withdraw(r.key, 10)
    other = SigningKey.generate().address
    token = r.token
    before = r.stub.Audit(pb.AuditRequest())
    transfer = pb.TransferPayload(from_account=r.key.address, to_account=other, nonce=1)
    cases: list[tuple[str, Callable[[], object], str, str]] = [
        (
            "memo with NUL",
            lambda: r.transfer(r.key, other, 1, memo="a\x00b"),
            "MALFORMED",
            "transfer: memo: contains a NUL character",
        ),
        (
            "65-bit amount in a signed payload",
            lambda: r.stub.Transfer(
                r.transfer_payload(transfer.SerializeToString() + OVERLONG_AMOUNT)
            ),
            "MALFORMED",
            "transfer: amount: varint wider than its type",
        ),
        (
            "tron_from with NUL",
            lambda: r.treasury.CreditDeposit(
                pb.CreditDepositRequest(
                    txid="ab" * 32, account=other, amount=5, tron_from=other + "\x00"
                ),
                metadata=token,
            ),
            "MALFORMED",
            "tron_from: contains a NUL character",
        ),
        (
            "tron_from over 64 characters",
            lambda: r.treasury.CreditDeposit(
                pb.CreditDepositRequest(
                    txid="ab" * 32, account=other, amount=5, tron_from="T" * 65
                ),
                metadata=token,
            ),
            "INVALID_ADDRESS",
            "tron_from is not a TRON address",
        ),
        (
            "contract_index at 2^31",
            lambda: r.treasury.CreditDeposit(
                pb.CreditDepositRequest(
                    txid="ab" * 32, contract_index=2**31, account=other, amount=5, tron_from=other
                ),
                metadata=token,
            ),
            "MALFORMED",
            "contract_index must be below 2^31",
        ),
        (
            "65-bit amount in a request body",
            lambda: r.channel.unary_unary("/btt.ledger.v1.Treasury/CreditDeposit")(
                pb.CreditDepositRequest(
                    txid="ab" * 32, account=other, tron_from=other
                ).SerializeToString()
                + b"\x20"  # field 4 (amount), varint
                + b"\xff" * 9
                + b"\x03",
                metadata=token,
            ),
            "MALFORMED",
            "amount: varint wider than its type",
        ),
        (
            "reason with NUL",
            lambda: r.treasury.MarkWithdrawalFailed(
                pb.MarkWithdrawalFailedRequest(withdrawal_id=pending.withdrawal_id, reason="\x00"),
                metadata=token,
            ),
            "MALFORMED",
            "reason: contains a NUL character",
        ),
        (
            "reason over 500 characters",
            lambda: r.treasury.MarkWithdrawalFailed(
                pb.MarkWithdrawalFailedRequest(
                    withdrawal_id=pending.withdrawal_id, reason="x" * 501
                ),
                metadata=token,
            ),
            "MALFORMED",
            "reason is longer than 500 characters",
        ),
        (
            "txid not hex",
            lambda: r.treasury.MarkWithdrawalPaid(
                pb.MarkWithdrawalPaidRequest(withdrawal_id=pending.withdrawal_id, txid="zz" * 32),
                metadata=token,
            ),
            "MALFORMED",
            "txid must be 64 hex characters",
        ),
        (
            "txid too short",
            lambda: r.treasury.MarkWithdrawalPaid(
                pb.MarkWithdrawalPaidRequest(withdrawal_id=pending.withdrawal_id, txid="ab"),
                metadata=token,
            ),
            "MALFORMED",
            "txid must be 64 hex characters",
        ),
        *(
            (
                f"{name} at 2^63",
                call,
                "MALFORMED",
                f"{field} must be below 2^63",
            )
            for name, field, call in (
                (
                    "MarkWithdrawalPaid",
                    "withdrawal_id",
                    lambda: r.treasury.MarkWithdrawalPaid(
                        pb.MarkWithdrawalPaidRequest(withdrawal_id=2**63, txid="ab" * 32),
                        metadata=token,
                    ),
                ),
                (
                    "MarkWithdrawalFailed",
                    "withdrawal_id",
                    lambda: r.treasury.MarkWithdrawalFailed(
                        pb.MarkWithdrawalFailedRequest(withdrawal_id=2**64 - 1, reason="x"),
                        metadata=token,
                    ),
                ),
                (
                    "ListWithdrawals",
                    "after_id",
                    lambda: r.treasury.ListWithdrawals(
                        pb.ListWithdrawalsRequest(after_id=2**63), metadata=token
                    ),
                ),
                (
                    "ListAccountWithdrawals",
                    "after_id",
                    lambda: r.stub.ListAccountWithdrawals(
                        pb.ListAccountWithdrawalsRequest(account=other, after_id=2**63)
                    ),
                ),
                (
                    "Subscribe",
                    "after_event_id",
                    lambda: list(
                        r.stub.Subscribe(pb.SubscribeRequest(after_event_id=2**63), timeout=5)
                    ),
                ),
            )
        ),
    ]
    for name, call, reason, message in cases:
        code, got_reason, details = answer(call)
        expected_code = "NOT_FOUND" if reason.startswith("UNKNOWN") else "INVALID_ARGUMENT"
        assert (code, got_reason, details) == (
            expected_code,
            reason,
            f"{reason}: {message}",
        ), name
    assert r.stub.Audit(pb.AuditRequest()) == before
    # Limits, not breakage: the longest reason there is still fails a withdrawal on both stores.
    failed = r.treasury.MarkWithdrawalFailed(
        pb.MarkWithdrawalFailedRequest(withdrawal_id=pending.withdrawal_id, reason="é" * 500),
        metadata=token,
    ).withdrawal
    assert (failed.status, failed.failure_reason) == ("failed", "é" * 500)


def test_unparseable_body_is_malformed(ledger_rpc: Ledger, ledger_any: LedgerHarness) -> None:
    with grpc.insecure_channel(ledger_any.target) as channel:
        raw = channel.unary_unary("/btt.ledger.v1.Ledger/Transfer")
        code, reason, details = answer(lambda: raw(b"\x0a\x05ab", timeout=5))
    assert (code, reason) == ("INVALID_ARGUMENT", "MALFORMED")
    assert details == "MALFORMED: request body of Transfer does not parse"


def test_credits_stop_at_the_total_supply_cap(ledger_rpc: Ledger) -> None:
    r = ledger_rpc
    a, b = SigningKey.generate(), SigningKey.generate()
    assert r.credit(a.address, MAX_SUPPLY - 10).newly_credited
    before = r.stub.Audit(pb.AuditRequest())
    code, reason, details = answer(lambda: r.credit(b.address, 11))
    assert (code, reason) == ("INVALID_ARGUMENT", "AMOUNT_OVERFLOW")
    assert "total-supply cap" in details
    assert r.stub.Audit(pb.AuditRequest()) == before
    assert r.credit(b.address, 10).newly_credited  # exactly at the cap
    # A paid withdrawal makes room again.
    w = r.withdraw(a, 5)
    r.treasury.MarkWithdrawalPaid(
        pb.MarkWithdrawalPaidRequest(withdrawal_id=w.withdrawal_id, txid="cd" * 32),
        metadata=r.token,
    )
    assert r.credit(b.address, 5).newly_credited
    audit = r.stub.Audit(pb.AuditRequest())
    assert audit.balanced and audit.account_balances == MAX_SUPPLY


def test_audit_sums_past_int64_stay_exact(ledger_rpc: Ledger) -> None:
    r = ledger_rpc
    a, b = SigningKey.generate(), SigningKey.generate()
    r.credit(a.address, MAX_SUPPLY)
    # Ten moves of the whole supply: 10^19 through the journal, above 2^63 - 1.
    for i in range(10):
        sender, recipient = (a, b) if i % 2 == 0 else (b, a)
        r.transfer(sender, recipient.address, MAX_SUPPLY)
    audit = r.stub.Audit(pb.AuditRequest())
    assert audit.balanced
    assert (audit.account_balances, audit.deposits_credited) == (MAX_SUPPLY, MAX_SUPPLY)
    assert audit.journal_imbalance == 0


def test_lifetime_deposits_stay_within_int64(ledger_rpc: Ledger) -> None:
    r = ledger_rpc
    a = SigningKey.generate()
    for _ in range(9):  # 9 * 10^18 credited and paid out again
        r.credit(a.address, MAX_SUPPLY)
        w = r.withdraw(a, MAX_SUPPLY)
        r.treasury.MarkWithdrawalPaid(
            pb.MarkWithdrawalPaidRequest(withdrawal_id=w.withdrawal_id, txid=os.urandom(32).hex()),
            metadata=r.token,
        )
    audit = r.stub.Audit(pb.AuditRequest())
    assert audit.balanced and audit.deposits_credited == 9 * MAX_SUPPLY
    code, reason, details = answer(lambda: r.credit(a.address, INT64_MAX - 9 * MAX_SUPPLY + 1))
    assert (code, reason) == ("INVALID_ARGUMENT", "AMOUNT_OVERFLOW")
    assert details.endswith("deposits credited would pass 2^63-1 units")
    assert r.credit(a.address, INT64_MAX - 9 * MAX_SUPPLY).newly_credited
    assert r.stub.Audit(pb.AuditRequest()).deposits_credited == INT64_MAX


def test_users_read_their_own_withdrawals(ledger: LedgerHarness) -> None:
    alice, bob = SigningKey.generate(), SigningKey.generate()
    ledger.fund(alice.address, 1_000)
    ledger.fund(bob.address, 1_000)
    with LedgerClient(ledger.target, alice) as a, LedgerClient(ledger.target, bob) as b:
        first = a.request_withdrawal(alice.address, 100)
        b.request_withdrawal(bob.address, 50)
        second = a.request_withdrawal(alice.address, 200)
        with grpc.insecure_channel(ledger.target) as ch:
            pb_grpc.TreasuryStub(ch).MarkWithdrawalPaid(
                pb.MarkWithdrawalPaidRequest(withdrawal_id=first.withdrawal_id, txid="ef" * 32),
                metadata=ledger.treasury_metadata(),
            )
        mine = a.withdrawals()
        assert [(w.withdrawal_id, w.amount, w.status, w.txid) for w in mine] == [
            (first.withdrawal_id, 100, "paid", "ef" * 32),
            (second.withdrawal_id, 200, "pending", ""),
        ]
        assert [w.account for w in b.withdrawals()] == [bob.address]
        assert [w.withdrawal_id for w in a.withdrawals(status="pending")] == [second.withdrawal_id]
        page = a.withdrawals(limit=1)
        assert [w.withdrawal_id for w in page] == [first.withdrawal_id]
        rest = a.withdrawals(after=page[-1].withdrawal_id)
        assert [w.withdrawal_id for w in rest] == [second.withdrawal_id]
        assert b.withdrawals(alice.address) == mine  # a read: anyone may look
        with pytest.raises(LedgerRejected) as exc:
            a.withdrawals("not-an-address")
        assert exc.value.reason == "INVALID_ADDRESS"
    with grpc.insecure_channel(ledger.target) as ch:
        code, reason, _ = answer(
            lambda: pb_grpc.LedgerStub(ch).ListAccountWithdrawals(
                pb.ListAccountWithdrawalsRequest()
            )
        )
    assert (code, reason) == ("INVALID_ARGUMENT", "MALFORMED")
