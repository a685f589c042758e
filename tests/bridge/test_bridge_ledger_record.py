"""Exactly-once payouts that survive losing the bridge's database: the ledger is the record.

A bridge records each signed payout tx on the ledger before broadcasting it, holds the ledger's
lease while it works, and a bridge on an empty database looks for its own payout memos on
chain before signing anything. Bridges run here as real `btt-bridge` processes.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import BridgeConfig
from bridge.decide import payout_memo
from bridge.devnode import DevNode
from bridge.devtools import deposit
from bridge.runner import BridgeRunner
from bridge.tron import TronGateway
from client_sdk.ledger_client import LedgerClient
from tests.bridge.conftest import ALICE, BRIDGE, CAROL, DAVE, settle
from tests.bridge.processes import run_bridge, start_bridge
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(120)
HELD = "another bridge holds the ledger's lease"


def payouts_on_chain(gateway: TronGateway, token: str) -> dict[int, list[str]]:
    """withdrawal id -> txids of solidified transfers from the bridge carrying its memo."""
    found: dict[int, list[str]] = {}
    for t in gateway.iter_solid_blocks(0, gateway.solid_head().number):
        if t.owner == BRIDGE.address and t.token_id == token and t.success:
            wid = int(t.memo.decode().split(":")[1])
            found.setdefault(wid, []).append(t.txid)
    return found


def funded(node: DevNode, config: BridgeConfig, amount: int) -> None:
    """CAROL's ledger account holds `amount`, deposited through a bridge that then stops."""
    with BridgeRunner(config) as runner:
        deposit(runner.gateway, ALICE, BRIDGE.address, config.token_id, amount, CAROL.address)
        settle(node)
        assert runner.run_once().scan.credited


def wait_for(condition: Callable[[], bool], step: Callable[[], None], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        step()
        time.sleep(0.05)


def test_an_empty_or_restored_database_never_pays_twice(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], tmp_path: Path
) -> None:
    ledger, config = bridge_env
    funded(node, config, 9_000)
    db1, db2 = tmp_path / "bridge.db", tmp_path / "empty.db"
    backup = tmp_path / "backup.db"
    shutil.copy(db1, backup)  # taken before the payout existed
    user = LedgerClient(ledger.target, CAROL)
    wid = user.request_withdrawal(DAVE.address, 5_000).withdrawal_id
    user.close()

    first = run_bridge(config, "run", "--once")
    (txid,) = [line.split()[-1] for line in first.splitlines() if "broadcast" in line]
    # An empty database: the ledger's record is found, the tx is seen in the pool: it waits.
    second = run_bridge(config, "run", "--once", db=f"sqlite:///{db2}")
    assert "credited" not in second  # the ledger had that deposit already
    assert "broadcast" not in second
    settle(node)
    # The backup from before the payout, restored: it finds the payout and marks it paid.
    shutil.copy(backup, db1)
    third = run_bridge(config, "run", "--once")
    assert f"withdrawal {wid} paid {txid}" in third and "broadcast" not in third
    settle(node)
    assert run_bridge(config, "run", "--once", db=f"sqlite:///{db2}").count("broadcast") == 0

    gateway = TronGateway(config.node_url)
    try:
        assert payouts_on_chain(gateway, config.token_id) == {wid: [txid]}
        assert gateway.token_balance(DAVE.address, config.token_id) == 5_000
    finally:
        gateway.close()
    with BridgeRunner(config) as runner:
        done = runner.treasury.payout(wid)
        assert done is not None
        assert (done.withdrawal.status, done.withdrawal.txid) == ("paid", txid)
        assert [t.txid for t in done.txs] == [txid]
        assert runner.reconcile().ok


def test_a_fresh_database_finds_a_payout_the_ledger_never_recorded(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], tmp_path: Path
) -> None:
    """A payout signed outside the ledger's record (an older bridge): its memo on chain is
    found by a bridge on an empty database before it signs anything, even when that bridge
    starts scanning at the chain's tip."""
    ledger, config = bridge_env
    funded(node, config, 20_000)
    user = LedgerClient(ledger.target, CAROL)
    paid = user.request_withdrawal(DAVE.address, 5_000)
    odd = user.request_withdrawal(DAVE.address, 3_000)
    user.close()
    gateway = TronGateway(config.node_url)
    legacy = {}
    for w, amount in ((paid, 5_000), (odd, 2_999)):
        tx = gateway.build_token_transfer(
            BRIDGE.address, DAVE.address, amount, config.token_id, memo=payout_memo(w.withdrawal_id)
        )
        legacy[w.withdrawal_id] = gateway.broadcast(gateway.sign(tx, BRIDGE)).txid
    settle(node)
    node.produce_blocks(30)
    tip = gateway.solid_head().number
    fresh_db = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = config.model_copy(update={"db": fresh_db, "start_block": tip})
    with BridgeRunner(fresh) as runner:
        result = runner.run_once()
        assert runner.store.cursor() == tip + 1
        assert result.payout.paid == [(paid.withdrawal_id, legacy[paid.withdrawal_id])]
        assert result.payout.broadcast == [] and result.payout.replaced == []
        (held,) = result.payout.held
        assert held[0] == odd.withdrawal_id and "operator" in held[1]
        assert runner.treasury.payout(odd.withdrawal_id).txs == ()  # nothing signed for it
        settle(node)
        assert runner.run_once().payout.broadcast == []
    assert gateway.token_balance(DAVE.address, config.token_id) == 5_000 + 2_999
    gateway.close()


def test_two_bridges_at_once_pay_each_withdrawal_once(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], tmp_path: Path
) -> None:
    ledger, config = bridge_env
    funded(node, config, 30_000)
    user = LedgerClient(ledger.target, CAROL)
    wids = [user.request_withdrawal(DAVE.address, n).withdrawal_id for n in (1_000, 2_000)]
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    procs = {}
    for name in ("a", "b"):
        with logs[name].open("w") as out:
            procs[name] = start_bridge(config, db=f"sqlite:///{tmp_path / name}.db", output=out)
    reader = BridgeRunner(config)
    try:

        def all_paid(ids: list[int]) -> bool:
            return all(reader.treasury.payout(i).withdrawal.status == "paid" for i in ids)

        def reported(name: str) -> bool:
            text = logs[name].read_text()
            return all(f"withdrawal {w} paid" in text for w in wids)

        wait_for(lambda: all_paid(wids), lambda: node.produce_blocks(1))
        wait_for(lambda: reported("a") or reported("b"), lambda: None, timeout=10)
        text = {name: path.read_text() for name, path in logs.items()}
        (active,) = [n for n in procs if "paid" in text[n]]
        (standby,) = [n for n in procs if n != active]
        wait_for(lambda: HELD in logs[standby].read_text(), lambda: None, timeout=20)
        time.sleep(0.5)  # several more passes
        standby_text = logs[standby].read_text()
        assert standby_text.count(HELD) == 1  # said once, not every pass
        assert "broadcast" not in standby_text and "paid" not in standby_text

        # The active bridge dies holding the lease; the standby takes over only when it ends.
        procs[active].send_signal(signal.SIGKILL)
        procs[active].wait(10)
        third = user.request_withdrawal(DAVE.address, 4_000).withdrawal_id
        node.produce_blocks(3)
        time.sleep(0.5)
        assert reader.treasury.payout(third).txs == ()
        ledger.clock.advance(config.lease_seconds)
        wait_for(lambda: all_paid([third]), lambda: node.produce_blocks(1))
        settle(node)
        chain = payouts_on_chain(reader.gateway, config.token_id)
        assert {w: len(txids) for w, txids in chain.items()} == {wids[0]: 1, wids[1]: 1, third: 1}
        assert reader.gateway.token_balance(DAVE.address, config.token_id) == 7_000
        assert user.balance(CAROL.address) == 23_000
        assert reader.reconcile().ok
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
        reader.close()
        user.close()
    assert procs[standby].returncode == 0
    # Its clean stop handed the lease back: the next bridge works at once.
    assert HELD not in run_bridge(config, "run", "--once")
