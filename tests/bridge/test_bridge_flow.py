"""Deposits and withdrawals end to end: devnode + a real ledger gRPC server + the bridge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.binding import BindingError, sign_binding
from bridge.cli import app
from bridge.config import BridgeConfig
from bridge.devnode import DevNode
from bridge.devtools import deposit
from bridge.runner import BridgeRunner
from bridge.tron import TxStatus
from client_sdk.ledger_client import LedgerClient
from core.status import WithdrawalStatus
from tests.bridge.conftest import ALICE, BOB, BRIDGE, CAROL, DAVE, settle
from tests.ledger_harness import TREASURY_TOKEN, LedgerHarness

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def runner(bridge_env: tuple[LedgerHarness, BridgeConfig]) -> Iterator[BridgeRunner]:
    with BridgeRunner(bridge_env[1]) as r:
        yield r


@pytest.fixture
def user(bridge_env: tuple[LedgerHarness, BridgeConfig]) -> Iterator[LedgerClient]:
    client = LedgerClient(bridge_env[0].target, CAROL)
    yield client
    client.close()


def cli_env(config: BridgeConfig) -> dict[str, str]:
    return {
        "BTT_BRIDGE_NODE_URL": config.node_url,
        "BTT_BRIDGE_LEDGER": config.ledger,
        "BTT_BRIDGE_TREASURY_TOKEN": TREASURY_TOKEN,
        "BTT_BRIDGE_DB": config.db,
        "BTT_BRIDGE_TOKEN_ID": config.token_id,
        "BTT_BRIDGE_HOT_KEY": BRIDGE.secret_bytes().hex(),
    }


def test_deposit_is_credited_once_after_solidification(
    node: DevNode, runner: BridgeRunner, user: LedgerClient
) -> None:
    txid = deposit(
        runner.gateway, ALICE, BRIDGE.address, runner.config.token_id, 5_000_000, CAROL.address
    )
    node.produce_blocks(1)  # included, not yet solid
    assert runner.run_once().scan.credited == []
    assert (user.account().balance, user.account().nonce) == (0, 0)
    settle(node)
    assert runner.run_once().scan.credited == [(txid, 0, CAROL.address, 5_000_000)]
    # Further passes and a full rescan from block 0 change nothing.
    assert runner.run_once().scan.credited == []
    runner.store.set_cursor(0)
    assert runner.run_once().scan.credited == []
    assert user.balance(CAROL.address) == 5_000_000
    assert runner.treasury.audit().deposits_credited == 5_000_000
    assert runner.reconcile().ok


def test_withdrawal_is_paid_on_chain_and_debited_once(
    node: DevNode, runner: BridgeRunner, user: LedgerClient
) -> None:
    token = runner.config.token_id
    deposit(runner.gateway, ALICE, BRIDGE.address, token, 5_000_000, CAROL.address)
    settle(node)
    runner.run_once()
    w = user.request_withdrawal(DAVE.address, 2_000_000)
    first = runner.run_once().payout
    assert [wid for wid, _ in first.broadcast] == [w.withdrawal_id]
    txid = first.broadcast[0][1]
    assert runner.store.txs(w.withdrawal_id)[0].txid == txid  # persisted
    node.produce_blocks(1)
    assert runner.run_once().payout.paid == []  # in a block, not solidified: not paid yet
    settle(node)
    assert runner.run_once().payout.paid == [(w.withdrawal_id, txid)]
    for _ in range(2):
        assert runner.run_once().payout.paid == []
    settle(node)
    assert runner.gateway.token_balance(DAVE.address, token) == 2_000_000
    assert user.balance(CAROL.address) == 3_000_000
    (done,) = runner.treasury.withdrawals(WithdrawalStatus.PAID)
    assert (done.withdrawal_id, done.txid) == (w.withdrawal_id, txid)
    rec = runner.reconcile()
    assert rec.ok and rec.chain_balance == 3_000_000 == rec.audit.liabilities


def test_reconcile_cli_balances_then_detects_a_planted_mismatch(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], runner: BridgeRunner
) -> None:
    ledger, config = bridge_env
    deposit(runner.gateway, ALICE, BRIDGE.address, config.token_id, 7_000, CAROL.address)
    settle(node)
    cli = CliRunner()
    # Before the watcher ran, the deposit is explained as in flight (unscanned).
    ok = cli.invoke(app, ["reconcile"], env=cli_env(config))
    assert ok.exit_code == 0, ok.output
    assert "unscanned" in ok.output and "difference           +0" in ok.output
    runner.run_once()
    ok = cli.invoke(app, ["reconcile", "--json"], env=cli_env(config))
    assert ok.exit_code == 0, ok.output
    ledger.fund(BOB.address, 1_234)  # a credit with no tokens behind it
    bad = cli.invoke(app, ["reconcile"], env=cli_env(config))
    assert bad.exit_code == 1
    assert "difference           -1234" in bad.output and "MISMATCH" in bad.output


def test_fake_token_failed_tx_and_other_recipients_never_credit(
    node: DevNode, runner: BridgeRunner, user: LedgerClient
) -> None:
    gw, token = runner.gateway, runner.config.token_id
    fake = node.issue_token(BOB.address, "BTT", 10**12)  # same name, other id
    node.fund(BOB.address, 100_000_000)
    settle(node)
    deposit(gw, BOB, BRIDGE.address, fake, 9_000, CAROL.address)
    failing = gw.sign(
        gw.build_token_transfer(
            ALICE.address, BRIDGE.address, 8_000, token, memo=b"btt:" + CAROL.address.encode()
        ),
        ALICE,
    )
    node.set_faults(fail_txid=failing.txid)
    gw.broadcast(failing)
    deposit(gw, ALICE, BOB.address, token, 7_000, CAROL.address)  # not to the bridge
    good = deposit(gw, ALICE, BRIDGE.address, token, 6_000, CAROL.address)
    settle(node)
    assert gw.get_solid_tx_status(failing.txid)[0] is TxStatus.FAILED
    assert runner.run_once().scan.credited == [(good, 0, CAROL.address, 6_000)]
    runner.store.set_cursor(0)
    runner.run_once()
    assert user.balance(CAROL.address) == 6_000
    assert runner.reconcile().ok


def test_binding_suspense_and_memo_precedence(
    node: DevNode,
    bridge_env: tuple[LedgerHarness, BridgeConfig],
    runner: BridgeRunner,
    user: LedgerClient,
    tmp_path: Path,
) -> None:
    ledger, config = bridge_env
    gw, token = runner.gateway, config.token_id
    unbound = deposit(gw, ALICE, BRIDGE.address, token, 1_000)  # no memo, no binding
    bad_memo = gw.broadcast(
        gw.sign(
            gw.build_token_transfer(
                ALICE.address, BRIDGE.address, 2_000, token, memo=b"btt:nobody"
            ),
            ALICE,
        )
    ).txid
    settle(node)
    result = runner.run_once().scan
    assert result.credited == [] and {s[0] for s in result.suspense} == {unbound, bad_memo}
    status = CliRunner().invoke(app, ["status"], env=cli_env(config))
    assert status.exit_code == 0 and unbound in status.output and bad_memo in status.output
    assert runner.reconcile().ok  # suspense deposits are accounted for as in flight

    # Binding ALICE's address to DAVE's account needs both keys; a forged half is refused.
    binding = sign_binding(ledger.ledger_id, ALICE, DAVE)
    forged = sign_binding(ledger.ledger_id, ALICE, BOB)
    with pytest.raises(BindingError, match="account's signature"):
        type(binding)(
            binding.ledger_id,
            binding.tron_address,
            DAVE.address,
            binding.tron_signature,
            forged.account_signature,
        ).verify(ledger.ledger_id)
    with pytest.raises(BindingError, match="ledger"):
        binding.verify("other-ledger")
    alice_key, dave_key = tmp_path / "alice.key", tmp_path / "dave.key"
    alice_key.write_text(ALICE.secret_bytes().hex())
    dave_key.write_text(DAVE.secret_bytes().hex())
    bound = CliRunner().invoke(
        app,
        ["bind", "--tron-key-file", str(alice_key), "--account-key-file", str(dave_key)],
        env=cli_env(config),
    )
    assert bound.exit_code == 0, bound.output
    # The unbound deposit is released to DAVE; the unreadable memo stays for an operator.
    assert runner.run_once().scan.credited == [(unbound, 0, DAVE.address, 1_000)]
    assert [d.txid for d in runner.store.deposits("suspense")] == [bad_memo]
    # A memo beats the binding; without a memo the binding decides.
    by_memo = deposit(gw, ALICE, BRIDGE.address, token, 300, CAROL.address)
    by_binding = deposit(gw, ALICE, BRIDGE.address, token, 400)
    settle(node)
    credited = {c[0]: c[2] for c in runner.run_once().scan.credited}
    assert credited == {by_memo: CAROL.address, by_binding: DAVE.address}
    assert user.balance(DAVE.address) == 1_400 and user.balance(CAROL.address) == 300
    assert runner.reconcile().ok


def test_dropped_broadcast_is_resent_and_replaced_only_after_solid_expiry(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], user: LedgerClient
) -> None:
    config = bridge_env[1].model_copy(update={"tx_lifetime_ms": 1_500})
    with BridgeRunner(config) as runner:
        deposit(runner.gateway, ALICE, BRIDGE.address, config.token_id, 10_000, CAROL.address)
        settle(node)
        runner.run_once()
        w = user.request_withdrawal(DAVE.address, 4_000)
        node.set_faults(drop_next=2)
        first = runner.run_once().payout.broadcast  # "accepted", then dropped
        txid = first[0][1]
        settle(node)
        assert runner.gateway.get_solid_tx_status(txid)[0] is TxStatus.UNKNOWN
        assert runner.run_once().payout.broadcast == [
            (w.withdrawal_id, txid)
        ]  # same bytes, dropped
        (tx,) = runner.store.txs(w.withdrawal_id)
        time.sleep(max(0.0, tx.expiration / 1000 - time.time()) + 0.05)
        node.produce_blocks(1)  # the head is past expiry, the solid head is not
        assert runner.gateway.head().timestamp >= tx.expiration
        assert runner.gateway.solid_head().timestamp < tx.expiration
        assert runner.run_once().payout.replaced == []
        assert len(runner.store.txs(w.withdrawal_id)) == 1
        settle(node)
        replaced = runner.run_once().payout.replaced
        assert len(replaced) == 1 and replaced[0][1] != txid
        settle(node)
        assert runner.run_once().payout.paid == [(w.withdrawal_id, replaced[0][1])]
        assert runner.gateway.token_balance(DAVE.address, config.token_id) == 4_000
        assert [t.state for t in runner.store.txs(w.withdrawal_id)] == ["expired", "active"]
        assert runner.reconcile().ok


def test_limits_fail_or_hold_and_a_failed_receipt_returns_the_money(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], user: LedgerClient
) -> None:
    config = bridge_env[1].model_copy(update={"max_withdrawal": 5_000, "daily_limit": 8_000})
    with BridgeRunner(config) as runner:
        deposit(runner.gateway, ALICE, BRIDGE.address, config.token_id, 50_000, CAROL.address)
        settle(node)
        runner.run_once()
        too_big = user.request_withdrawal(DAVE.address, 6_000)
        result = runner.run_once().payout
        assert result.failed == [
            (too_big.withdrawal_id, "over the per-withdrawal limit of 5000 units")
        ]
        assert user.balance(CAROL.address) == 50_000  # returned
        a = user.request_withdrawal(DAVE.address, 5_000)
        b = user.request_withdrawal(DAVE.address, 4_000)  # 9,000 > daily 8,000
        result = runner.run_once().payout
        assert [w for w, _ in result.broadcast] == [a.withdrawal_id]
        assert result.held == [(b.withdrawal_id, "daily limit reached")]
        node.set_faults(fail_txid=result.broadcast[0][1])
        settle(node)
        result = runner.run_once().payout
        assert result.failed[0][0] == a.withdrawal_id and "failed on chain" in result.failed[0][1]
        # The failed payout no longer counts against the day: b goes out in the same pass.
        assert [w for w, _ in result.broadcast] == [b.withdrawal_id]
        settle(node)
        runner.run_once()
        assert runner.gateway.token_balance(DAVE.address, config.token_id) == 4_000
        assert user.balance(CAROL.address) == 46_000
        assert runner.reconcile().ok
