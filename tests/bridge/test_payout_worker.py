"""The payout worker's outcomes on a devnode and a real ledger: refusals, recoveries, reasons.

Each test drives one path the crash and flow tests do not: the node refusing a payout for good,
a bridge database that disagrees with the ledger, several payouts the ledger closed while the
bridge was down, and the exact reason every failure carries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bridge.config import BridgeConfig
from bridge.devnode import DevNode
from bridge.devtools import deposit
from bridge.payout import PayoutResult
from bridge.records import LedgerPayout
from bridge.runner import BridgeRunner
from bridge.schema import PayoutStatus, TxState
from client_sdk.ledger_client import LedgerClient
from core.status import WithdrawalStatus
from tests.bridge.conftest import ALICE, BRIDGE, CAROL, DAVE, settle
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def carol(bridge_env: tuple[LedgerHarness, BridgeConfig]) -> Iterator[LedgerClient]:
    with LedgerClient(bridge_env[0].target, CAROL) as client:
        yield client


def fund_through_the_bridge(node: DevNode, runner: BridgeRunner, amount: int) -> None:
    token = runner.config.token_id
    deposit(runner.gateway, ALICE, BRIDGE.address, token, amount, CAROL.address)
    settle(node)
    assert runner.run_once().scan.credited


def ledger_status(runner: BridgeRunner, wid: int) -> tuple[str, str, str]:
    payout = runner.treasury.payout(wid)
    assert payout is not None
    w = payout.withdrawal
    return w.status, w.txid, w.failure_reason


def test_a_payout_the_node_refuses_for_good_fails_after_expiry_and_the_money_returns(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    ledger, base = bridge_env
    config = base.model_copy(update={"tx_lifetime_ms": 1_500})
    with BridgeRunner(config) as runner:
        ledger.fund(CAROL.address, 5_000)  # credited, but the bridge holds no token to pay with
        wid = carol.request_withdrawal(DAVE.address, 5_000).withdrawal_id
        assert carol.balance() == 0
        first = runner.run_once().payout
        assert first == PayoutResult()  # signed, recorded, refused by the node: nothing sent
        (tx,) = runner.store.txs(wid)
        assert tx.state is TxState.REFUSED
        assert tx.reason == (
            "CONTRACT_VALIDATE_ERROR: contract validate error : "
            "assetBalance must be greater than 0."
        )
        # Until a solidified block is past its expiration, a copy could still land somewhere.
        settle(node)
        assert runner.run_once().payout == PayoutResult()
        assert ledger_status(runner, wid)[0] == WithdrawalStatus.PENDING
        time.sleep(max(0.0, tx.expiration / 1000 - time.time()) + 0.05)
        settle(node)
        reason = f"payout refused by the node: {tx.reason}"
        assert runner.run_once().payout == PayoutResult(failed=[(wid, reason)])
        assert ledger_status(runner, wid) == (WithdrawalStatus.FAILED, "", reason)
        assert carol.balance() == 5_000  # the money returned
        local = runner.store.payout(wid)
        assert local is not None and (local.status, local.reason) == (PayoutStatus.FAILED, reason)
        recorded = runner.treasury.payout(wid)
        assert recorded is not None and [t.txid for t in recorded.txs] == [tx.txid]
        assert runner.run_once().payout == PayoutResult()


def test_the_ledger_wins_over_a_bridge_database_that_says_failed(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    config = bridge_env[1].model_copy(update={"max_withdrawal": 4_000})
    with BridgeRunner(config) as runner:
        fund_through_the_bridge(node, runner, 20_000)
        too_big = carol.request_withdrawal(DAVE.address, 5_000).withdrawal_id
        fine = carol.request_withdrawal(DAVE.address, 3_000).withdrawal_id
        # A restored database says both failed; the ledger says pending, with no tx yet.
        for wid in (too_big, fine):
            pending = runner.treasury.payout(wid)
            assert pending is not None
            stale = LedgerPayout(pending.withdrawal, ())
            runner.store.close_payout(stale, PayoutStatus.FAILED, reason="restored")
        result = runner.run_once().payout
        limit = "over the per-withdrawal limit of 4000 units"
        assert result.failed == [(too_big, limit)]
        assert ledger_status(runner, too_big) == (WithdrawalStatus.FAILED, "", limit)
        (sent,) = result.broadcast
        assert sent[0] == fine
        local = runner.store.payout(fine)
        assert local is not None and local.status is PayoutStatus.OPEN  # reopened: in flight
        settle(node)
        assert runner.run_once().payout.paid == [(fine, sent[1])]
        assert ledger_status(runner, fine) == (WithdrawalStatus.PAID, sent[1], "")
        assert runner.gateway.token_balance(DAVE.address, config.token_id) == 3_000
        assert carol.balance() == 17_000
        assert runner.reconcile().ok


def test_payouts_the_ledger_closed_while_the_bridge_was_down_are_closed_here_too(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    with BridgeRunner(bridge_env[1]) as runner:
        fund_through_the_bridge(node, runner, 30_000)
        first = carol.request_withdrawal(DAVE.address, 1_000).withdrawal_id
        ((_, first_txid),) = runner.run_once().payout.broadcast
        second = carol.request_withdrawal(DAVE.address, 2_000).withdrawal_id
        third = carol.request_withdrawal(DAVE.address, 3_000).withdrawal_id
        node.set_faults(drop_next=1)  # the second's broadcast is lost; the third's lands
        sent = dict(runner.run_once().payout.broadcast)
        assert set(sent) == {second, third}
        node.set_faults(fail_txid=sent[third])
        settle(node)
        # The bridge marked the first and the third on the ledger, then died before noting it.
        runner.treasury.mark_paid(first, first_txid)
        failed_reason = f"payout tx {sent[third]} failed on chain"
        runner.treasury.mark_failed(third, failed_reason)
        assert [p.withdrawal_id for p in runner.store.payouts(PayoutStatus.OPEN)] == [
            first,
            second,
            third,
        ]
        result = runner.run_once().payout
        assert result.broadcast == [(second, sent[second])]  # the lost one, sent again
        assert result.paid == [] and result.failed == []
        closed = {p.withdrawal_id: p for p in runner.store.payouts()}
        assert (closed[first].status, closed[first].paid_txid) == (PayoutStatus.PAID, first_txid)
        assert closed[second].status is PayoutStatus.OPEN
        assert (closed[third].status, closed[third].reason) == (PayoutStatus.FAILED, failed_reason)
        settle(node)
        assert runner.run_once().payout.paid == [(second, sent[second])]
        assert runner.gateway.token_balance(DAVE.address, runner.config.token_id) == 3_000
        assert carol.balance() == 30_000 - 1_000 - 2_000
        assert runner.reconcile().ok
