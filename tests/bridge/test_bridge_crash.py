"""Crash matrix: the bridge as a real process, SIGKILLed at each step, restarted, paid once."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from bridge.config import BridgeConfig
from bridge.devnode import DevNode
from bridge.devtools import deposit
from bridge.runner import BridgeRunner
from client_sdk.ledger_client import LedgerClient
from tests.bridge import processes
from tests.bridge.conftest import ALICE, BRIDGE, CAROL, DAVE, settle
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(90)


def start_bridge(config: BridgeConfig, crash_at: str | None) -> subprocess.Popen[str]:
    return processes.start_bridge(config, crash_at=crash_at)


def drive(
    proc: subprocess.Popen[str],
    step: Callable[[], None],
    until: Callable[[], bool],
    timeout: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out; bridge output:\n{proc.communicate()[0]}")
        step()
        time.sleep(0.05)


@pytest.mark.parametrize(
    "crash_at",
    ["after_sign", "after_broadcast", "after_inclusion", "before_mark_paid", "after_mark_paid"],
)
def test_withdrawal_survives_sigkill(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], crash_at: str
) -> None:
    ledger, config = bridge_env
    with BridgeRunner(config) as runner:  # in-process, only to read state and reconcile
        token = config.token_id
        deposit(runner.gateway, ALICE, BRIDGE.address, token, 9_000, CAROL.address)
        settle(node)
        runner.run_once()
        runner.lease.release()  # the bridge process below is the one bridge at work
        user = LedgerClient(ledger.target, CAROL)
        w = user.request_withdrawal(DAVE.address, 5_000)

        def pool() -> int:
            return int(node.status()["pool"])

        def step() -> None:
            if crash_at == "after_inclusion":
                if pool():
                    node.produce_blocks(1)  # included; never enough blocks to solidify
            elif crash_at in ("before_mark_paid", "after_mark_paid"):
                node.produce_blocks(1)

        proc = start_bridge(config, crash_at)
        drive(proc, step, lambda: proc.poll() is not None)
        output = proc.communicate()[0]
        assert proc.returncode == -signal.SIGKILL, output
        (tx,) = runner.store.txs(w.withdrawal_id)  # the signed tx was persisted before the kill
        if crash_at == "after_sign":
            assert pool() == 0 and tx.broadcast_at is None
        recorded = runner.treasury.payout(w.withdrawal_id)
        assert [t.txid for t in recorded.txs] == [tx.txid]  # and recorded on the ledger
        ledger_status = recorded.withdrawal.status
        assert ledger_status == ("paid" if crash_at == "after_mark_paid" else "pending")
        if crash_at == "after_broadcast":
            # The killed bridge never released its lease: the next one waits for it to expire.
            early = start_bridge(config, None)
            assert early.stdout is not None
            while "another bridge holds the ledger's lease" not in early.stdout.readline():
                assert early.poll() is None
            assert runner.treasury.payout(w.withdrawal_id).txs == recorded.txs
            early.send_signal(signal.SIGTERM)
            early.communicate(timeout=20)
        ledger.clock.advance(config.lease_seconds)

        proc = start_bridge(config, None)
        try:
            drive(
                proc,
                lambda: node.produce_blocks(1),
                lambda: runner.store.payout(w.withdrawal_id).status == "paid",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=20)[0]
        assert proc.returncode == 0, output
        settle(node)
        assert runner.gateway.token_balance(DAVE.address, token) == 5_000  # exactly one payout
        assert [t.txid for t in runner.store.txs(w.withdrawal_id)] == [tx.txid]
        done = runner.treasury.withdrawal(w.withdrawal_id)
        assert (done.status, done.txid) == ("paid", tx.txid)
        assert user.balance(CAROL.address) == 4_000
        assert runner.reconcile().ok
        user.close()


def test_deposit_survives_sigkill_between_credit_and_cursor(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig]
) -> None:
    ledger, config = bridge_env
    user = LedgerClient(ledger.target, CAROL)
    with BridgeRunner(config) as runner:
        deposit(runner.gateway, ALICE, BRIDGE.address, config.token_id, 3_000, CAROL.address)
        settle(node)
        proc = start_bridge(config, "after_credit")
        drive(proc, lambda: None, lambda: proc.poll() is not None)
        assert proc.returncode == -signal.SIGKILL
        assert user.balance(CAROL.address) == 3_000  # credited, but not recorded locally
        assert runner.store.deposits() == []
        ledger.clock.advance(config.lease_seconds)  # the killed bridge's lease expires
        proc = start_bridge(config, None)
        try:
            drive(proc, lambda: None, lambda: len(runner.store.deposits("credited")) == 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
        assert user.balance(CAROL.address) == 3_000
        assert runner.treasury.audit().deposits_credited == 3_000
        assert runner.reconcile().ok
    user.close()
