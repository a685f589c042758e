"""The withdrawal rules of the pure protocol: request, reserve, and the bridge's verdict."""

from __future__ import annotations

import dataclasses

import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SigningKey
from core.envelopes import open_signed, sign
from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.status import EventKind, WithdrawalStatus
from core.types import Amount, Nonce, Timestamp
from ledger import protocol
from ledger.domain import Account, Withdrawal
from ledger.protocol import (
    CHAIN_WITHDRAWALS,
    WITHDRAWAL_TRANSITIONS,
    Bucket,
    InvariantBroken,
    Movement,
    WithdrawalOp,
)

LEDGER = "unit-ledger"
KEY = SigningKey.from_bytes(b"\x44" * 32)
OTHER = SigningKey.from_bytes(b"\x55" * 32)
TO = OTHER.address
NOW = Timestamp(1_700_000_000)
TXID = "ab" * 32
PENDING, PAID, FAILED = WithdrawalStatus.PENDING, WithdrawalStatus.PAID, WithdrawalStatus.FAILED


def withdrawal_proof(amount: int, nonce: int, key: SigningKey = KEY) -> SignedBy:
    payload = pb.WithdrawalPayload(account=KEY.address, tron_address=TO, amount=amount, nonce=nonce)
    return open_signed(LEDGER, sign(key, LEDGER, payload), pb.WithdrawalPayload, "w").proof


def account(balance: int = 1_000, nonce: int = 0) -> Account:
    return Account(KEY.address, Amount(balance), Nonce(nonce))


def pending(amount: int = 300) -> Withdrawal:
    return Withdrawal(
        withdrawal_id=7,
        account_id=KEY.address,
        tron_address=TO,
        amount=Amount(amount),
        status=PENDING,
        txid="",
        failure_reason="",
        requested_at=Timestamp(NOW - 60),
        updated_at=Timestamp(NOW - 60),
    )


def test_the_transition_table_is_exactly_request_pay_fail() -> None:
    assert WITHDRAWAL_TRANSITIONS == {
        (None, PENDING): WithdrawalOp.REQUEST,
        (PENDING, PAID): WithdrawalOp.MARK_PAID,
        (PENDING, FAILED): WithdrawalOp.MARK_FAILED,
    }
    assert protocol.WITHDRAWAL_EVENTS == {
        WithdrawalOp.REQUEST: EventKind.WITHDRAWAL_REQUESTED,
        WithdrawalOp.MARK_PAID: EventKind.WITHDRAWAL_PAID,
        WithdrawalOp.MARK_FAILED: EventKind.WITHDRAWAL_FAILED,
    }


def test_request_of_the_whole_balance_is_accepted() -> None:
    assert protocol.request_withdrawal(account(), TO, 1_000, 1, withdrawal_proof(1_000, 1)) == 1_000


@pytest.mark.parametrize(
    ("acct", "to", "amount", "nonce", "key", "reason"),
    [
        (account(), "not-an-address", 10, 1, KEY, Rejection.INVALID_ADDRESS),
        (account(), TO, 0, 1, KEY, Rejection.INVALID_AMOUNT),
        (account(), TO, 10**18 + 1, 1, KEY, Rejection.AMOUNT_OVERFLOW),
        (account(), TO, 10, 1, OTHER, Rejection.WRONG_SIGNER),
        (account(nonce=5), TO, 10, 5, KEY, Rejection.NONCE_REUSED),
        (account(), TO, 10, 0, KEY, Rejection.INVALID_NONCE),
        (account(), TO, 1_001, 1, KEY, Rejection.INSUFFICIENT_FUNDS),
    ],
    ids=["address", "zero", "overflow", "signer", "nonce-reused", "nonce-zero", "funds"],
)
def test_request_rejections(
    acct: Account, to: str, amount: int, nonce: int, key: SigningKey, reason: Rejection
) -> None:
    proof = withdrawal_proof(10, 1, key)  # the servicer matches payload and request fields
    with pytest.raises(Rejected) as info:
        protocol.request_withdrawal(acct, to, amount, nonce, proof)
    assert info.value.reason is reason


def test_reserve_moves_the_amount_from_the_account_to_pending() -> None:
    assert protocol.reserve(pending()) == Movement(
        Bucket.account(KEY.address), Bucket("pending", "7"), Amount(300)
    )


def test_reserve_of_a_finished_withdrawal_is_a_bug() -> None:
    with pytest.raises(InvariantBroken):
        protocol.reserve(dataclasses.replace(pending(), status=PAID))


def test_paid_sends_the_money_to_the_chain() -> None:
    t = protocol.finish_withdrawal(pending(), paid=True, txid=TXID, reason="", now=NOW)
    assert t is not None
    assert t.op is WithdrawalOp.MARK_PAID and t.event is EventKind.WITHDRAWAL_PAID
    assert t.movement == Movement(Bucket("pending", "7"), CHAIN_WITHDRAWALS, Amount(300))
    assert (t.after.status, t.after.txid, t.after.updated_at) == (PAID, TXID, NOW)
    assert t.before == pending()


def test_failed_returns_the_money_to_the_account() -> None:
    t = protocol.finish_withdrawal(pending(), paid=False, txid="", reason="refused", now=NOW)
    assert t is not None
    assert t.op is WithdrawalOp.MARK_FAILED and t.event is EventKind.WITHDRAWAL_FAILED
    assert t.movement == Movement(Bucket("pending", "7"), Bucket.account(KEY.address), 300)
    assert (t.after.status, t.after.failure_reason) == (FAILED, "refused")


def test_the_same_payment_confirmed_again_changes_nothing() -> None:
    paid = dataclasses.replace(pending(), status=PAID, txid=TXID)
    assert protocol.finish_withdrawal(paid, paid=True, txid=TXID, reason="", now=NOW) is None


@pytest.mark.parametrize(
    ("status", "txid", "paid"),
    [(PAID, "cd" * 32, True), (PAID, TXID, False), (FAILED, "", True), (FAILED, "", False)],
    ids=["paid-other-txid", "paid-then-failed", "failed-then-paid", "failed-twice"],
)
def test_a_finished_withdrawal_stays_finished(
    status: WithdrawalStatus, txid: str, paid: bool
) -> None:
    done = dataclasses.replace(pending(), status=status, txid=TXID if status is PAID else "")
    with pytest.raises(Rejected) as info:
        protocol.finish_withdrawal(done, paid=paid, txid=txid, reason="x", now=NOW)
    assert info.value.reason is Rejection.WITHDRAWAL_NOT_PENDING
    assert f"withdrawal 7 is {status.value}" in info.value.message
