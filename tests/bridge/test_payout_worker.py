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
from bridge.lease import LeaseHeld
from bridge.payout import LeaseLost, PayoutResult
from bridge.records import LedgerPayout, RecordedTx, from_ledger
from bridge.runner import BridgeRunner
from bridge.schema import PayoutStatus, TxState
from bridge.tron import SignedTx, TxStatus
from btt.ledger.v1 import ledger_pb2 as pb
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
        # A payout of another ledger (a database that came with a restore) is left as it is.
        foreign = LedgerPayout(
            pb.Withdrawal(withdrawal_id=10**6, account=CAROL.address, tron_address=DAVE.address),
            (
                RecordedTx(
                    "f" * 64, 0, SignedTx.from_json(runner.store.txs(first)[0].signed_json), 0
                ),
            ),
        )
        runner.store.mirror_payout(foreign)
        assert [p.withdrawal_id for p in runner.store.payouts(PayoutStatus.OPEN)] == [
            first,
            second,
            third,
            10**6,
        ]
        result = runner.run_once().payout
        assert result.broadcast == [(second, sent[second])]  # the lost one, sent again
        assert result.paid == [] and result.failed == []
        closed = {p.withdrawal_id: p for p in runner.store.payouts()}
        assert (closed[first].status, closed[first].paid_txid) == (PayoutStatus.PAID, first_txid)
        assert closed[second].status is PayoutStatus.OPEN
        assert (closed[third].status, closed[third].reason) == (PayoutStatus.FAILED, failed_reason)
        assert closed[10**6].status is PayoutStatus.OPEN
        settle(node)
        assert runner.run_once().payout.paid == [(second, sent[second])]
        assert runner.gateway.token_balance(DAVE.address, runner.config.token_id) == 3_000
        assert carol.balance() == 30_000 - 1_000 - 2_000
        assert runner.reconcile().ok


def test_a_node_that_does_not_answer_costs_a_pass_not_the_bridge(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    config = bridge_env[1].model_copy(update={"node_timeout": 0.3})
    with BridgeRunner(config) as runner:
        fund_through_the_bridge(node, runner, 5_000)
        wid = carol.request_withdrawal(DAVE.address, 5_000).withdrawal_id
        node.set_faults(delay_ms=1_000)
        try:
            assert runner.worker.run_once() == PayoutResult()
        finally:
            node.set_faults(delay_ms=0)
        time.sleep(1.0)  # let the node finish the answers nobody waits for
        ((sent, txid),) = runner.run_once().payout.broadcast
        assert sent == wid
        (tx,) = runner.store.txs(wid)
        assert tx.txid == txid and tx.broadcast_at is not None
        settle(node)
        assert runner.run_once().payout.paid == [(wid, txid)]
        local = runner.store.payout(wid)
        assert local is not None and (local.status, local.paid_txid) == (PayoutStatus.PAID, txid)
        memos = [
            t.memo
            for t in runner.gateway.iter_solid_blocks(0, runner.gateway.solid_head().number)
            if t.txid == txid
        ]
        assert memos == [f"btt-withdrawal:{wid}".encode()]


def test_the_daily_limit_holds_what_would_pass_it(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    config = bridge_env[1].model_copy(update={"daily_limit": 6_000})
    with BridgeRunner(config) as runner:
        fund_through_the_bridge(node, runner, 20_000)
        first = carol.request_withdrawal(DAVE.address, 4_000).withdrawal_id
        second = carol.request_withdrawal(DAVE.address, 3_000).withdrawal_id
        third = carol.request_withdrawal(DAVE.address, 2_000).withdrawal_id
        result = runner.run_once().payout
        assert [w for w, _ in result.broadcast] == [first, third]  # 4,000 + 2,000 fit in 6,000
        assert result.held == [(second, "daily limit reached")]
        assert runner.run_once().payout.held == [(second, "daily limit reached")]
        assert ledger_status(runner, second)[0] == WithdrawalStatus.PENDING


def test_an_expired_unseen_tx_is_replaced_by_one_recorded_as_its_replacement(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    config = bridge_env[1].model_copy(update={"tx_lifetime_ms": 1_000})
    with BridgeRunner(config) as runner:
        fund_through_the_bridge(node, runner, 5_000)
        wid = carol.request_withdrawal(DAVE.address, 5_000).withdrawal_id
        node.set_faults(drop_next=1)
        signed_at = time.time() * 1000
        ((_, old),) = runner.run_once().payout.broadcast  # accepted, then forgotten
        (tx,) = runner.store.txs(wid)
        assert signed_at + 1_000 <= tx.expiration <= time.time() * 1000 + 1_000  # its lifetime
        time.sleep(max(0.0, tx.expiration / 1000 - time.time()) + 0.05)
        settle(node)
        result = runner.run_once().payout
        ((replaced_wid, new),) = result.replaced
        assert replaced_wid == wid and new != old and result.broadcast == [(wid, new)]
        recorded = runner.treasury.payout(wid)
        assert recorded is not None
        assert [(t.txid, t.seq) for t in recorded.txs] == [(old, 0), (new, 1)]
        assert [(t.txid, t.state) for t in runner.store.txs(wid)] == [
            (old, TxState.EXPIRED),
            (new, TxState.ACTIVE),
        ]
        settle(node)
        assert runner.run_once().payout.paid == [(wid, new)]
        assert runner.gateway.token_balance(DAVE.address, config.token_id) == 5_000


def test_payout_memos_on_chain_the_ledger_never_recorded_decide_the_outcome(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    with BridgeRunner(bridge_env[1]) as runner:
        fund_through_the_bridge(node, runner, 9_000)
        gw, token = runner.gateway, runner.config.token_id
        paid = carol.request_withdrawal(DAVE.address, 2_000).withdrawal_id
        failed = carol.request_withdrawal(DAVE.address, 3_000).withdrawal_id
        legacy = {}
        for wid, amount in ((paid, 2_000), (failed, 3_000)):
            unsigned = gw.build_token_transfer(
                BRIDGE.address, DAVE.address, amount, token, memo=f"btt-withdrawal:{wid}".encode()
            )
            legacy[wid] = gw.broadcast(gw.sign(unsigned, BRIDGE)).txid
        node.set_faults(fail_txid=legacy[failed])
        settle(node)
        result = runner.run_once().payout
        assert result.paid == [(paid, legacy[paid])]
        reason = f"payout tx {legacy[failed]} failed on chain"
        assert result.failed == [(failed, reason)] and result.broadcast == []
        assert ledger_status(runner, paid) == (WithdrawalStatus.PAID, legacy[paid], "")
        assert ledger_status(runner, failed) == (WithdrawalStatus.FAILED, "", reason)
        assert carol.balance() == 9_000 - 2_000


def test_a_bridge_that_lost_the_lease_signs_nothing_more(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    ledger, config = bridge_env
    with BridgeRunner(config) as runner:
        fund_through_the_bridge(node, runner, 5_000)
        wid = carol.request_withdrawal(DAVE.address, 5_000).withdrawal_id
        ledger.clock.advance(config.lease_seconds)  # this bridge stalled past its lease
        assert runner.treasury.acquire_lease("the-other-bridge", 30).granted
        with pytest.raises(LeaseLost, match="LEASE_NOT_HELD"):
            runner.worker.run_once()
        recorded = runner.treasury.payout(wid)
        assert recorded is not None and recorded.txs == ()
        assert node.status()["pool"] == 0 and runner.store.txs(wid) == []
        with pytest.raises(LeaseHeld):
            runner.run_once()
        runner.treasury.release_lease("the-other-bridge")
        assert [w for w, _ in runner.run_once().payout.broadcast] == [wid]


def test_what_another_bridge_did_meanwhile_stands(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], carol: LedgerClient
) -> None:
    """A pass works from a listing; between the listing and an action, another bridge (or an
    operator) may record a tx or close the withdrawal. The ledger refuses the late action and
    the bridge takes the ledger's outcome."""
    config = bridge_env[1].model_copy(update={"max_withdrawal": 4_000})
    with BridgeRunner(config) as runner:
        fund_through_the_bridge(node, runner, 20_000)
        holder = runner.lease.holder
        raced, closed, refused, paid = (
            carol.request_withdrawal(DAVE.address, n).withdrawal_id
            for n in (1_000, 2_000, 5_000, 3_000)
        )

        def listed(wid: int) -> LedgerPayout:
            found = runner.treasury.payout(wid)
            assert found is not None
            return from_ledger(found)

        def act(payout: LedgerPayout) -> PayoutResult:
            result = PayoutResult()
            runner.worker._advance(payout, result)
            return result

        # Another bridge records its tx first: ours is never recorded nor sent.
        stale = listed(raced)
        gw = runner.gateway
        theirs = gw.sign(
            gw.build_token_transfer(BRIDGE.address, DAVE.address, 1_000, config.token_id), BRIDGE
        )
        runner.treasury.record_payout_tx(
            raced,
            holder=holder,
            replaces_txid="",
            txid=theirs.txid,
            expiration_ms=theirs.expiration,
            signed_tx=theirs.to_bytes(),
        )
        assert act(stale) == PayoutResult()
        assert [t.txid for t in listed(raced).txs] == [theirs.txid] and node.status()["pool"] == 0
        # An operator closes a withdrawal before its first tx: nothing is signed for it.
        stale = listed(closed)
        runner.treasury.mark_failed(closed, "refunded by the operator")
        assert act(stale) == PayoutResult() and listed(closed).txs == ()
        local = runner.store.payout(closed)
        assert local is not None
        assert (local.status, local.reason) == (PayoutStatus.FAILED, "refunded by the operator")
        # Refused by the limit, but closed meanwhile: the ledger's reason stands.
        stale = listed(refused)
        runner.treasury.mark_failed(refused, "refunded by the operator")
        assert act(stale) == PayoutResult()
        local = runner.store.payout(refused)
        assert local is not None
        assert (local.status, local.reason) == (PayoutStatus.FAILED, "refunded by the operator")
        # Paid on chain, but an operator failed it on the ledger meanwhile: the ledger's outcome
        # is kept (and reconcile shows the difference).
        ((_, txid),) = [b for b in runner.run_once().payout.broadcast if b[0] == paid]
        settle(node)
        stale = listed(paid)
        runner.treasury.mark_failed(paid, "refunded by the operator")
        assert act(stale) == PayoutResult()
        local = runner.store.payout(paid)
        assert local is not None
        assert (local.status, local.reason) == (PayoutStatus.FAILED, "refunded by the operator")
        assert gw.get_solid_tx_status(txid)[0] is TxStatus.SUCCESS
        assert not runner.reconcile().ok
