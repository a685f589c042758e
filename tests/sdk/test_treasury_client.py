"""The SDK's Treasury client on a real ledger: keyed calls, the shared errors, bounded retry."""

from __future__ import annotations

import socket
import time

import pytest

from client_sdk.ledger_client import LedgerClient, LedgerError, LedgerRejected, LedgerUnavailable
from client_sdk.treasury_client import TreasuryClient
from core.crypto import SigningKey
from core.status import WithdrawalStatus
from tests.ledger_harness import TREASURY_TOKEN, LedgerHarness

TXID = "ab" * 32


def test_keyed_calls_answer_a_repeat_with_the_first_outcome(ledger: LedgerHarness) -> None:
    alice = SigningKey.generate()
    with TreasuryClient(ledger.target, TREASURY_TOKEN) as treasury:
        assert treasury.credit_deposit(TXID, 0, alice.address, 7_000, alice.address) is True
        assert treasury.credit_deposit(TXID, 0, alice.address, 7_000, alice.address) is False
        with LedgerClient(ledger.target, alice) as client:
            w = client.request_withdrawal(alice.address, 2_000)
            assert client.balance() == 5_000
        (pending,) = treasury.withdrawals(WithdrawalStatus.PENDING)
        assert pending.withdrawal_id == w.withdrawal_id
        assert treasury.withdrawal(w.withdrawal_id) == pending
        assert treasury.withdrawal(w.withdrawal_id + 1) is None
        lease = treasury.acquire_lease("bridge-1", 30)
        assert (lease.granted, lease.holder) == (True, "bridge-1")
        assert treasury.acquire_lease("bridge-2", 30).granted is False
        payout = treasury.payout(w.withdrawal_id)
        assert payout is not None and payout.txs == ()
        paid = treasury.mark_paid(w.withdrawal_id, TXID)
        assert treasury.mark_paid(w.withdrawal_id, TXID) == paid  # the same confirmation again
        with pytest.raises(LedgerRejected) as refused:
            treasury.mark_failed(w.withdrawal_id, "too late")
        assert refused.value.reason == "WITHDRAWAL_NOT_PENDING"
        assert treasury.audit().balanced
        treasury.release_lease("bridge-1")
        assert treasury.acquire_lease("bridge-2", 30).granted


def test_errors_are_the_ledger_clients(ledger: LedgerHarness) -> None:
    with TreasuryClient(ledger.target, "wrong-token") as treasury:
        with pytest.raises(LedgerRejected) as refused:
            treasury.audit()
        assert refused.value.reason == "UNAUTHENTICATED" and isinstance(refused.value, LedgerError)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    with TreasuryClient(closed, TREASURY_TOKEN, timeout=0.5, attempts=3) as treasury:
        started = time.monotonic()
        with pytest.raises(LedgerUnavailable):
            treasury.withdrawals()
        assert time.monotonic() - started < 10  # retried a bounded number of times
