"""`btt-bridge`: each command asks only for the secrets it needs, secrets come from files or the
environment, TLS to the ledger, and what an operator lists and looks up. The cases that matter
run as processes; their variations run in-process (the same CLI, without a process start)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import BridgeConfig
from bridge.devnode import DevNode
from bridge.devtools import deposit
from bridge.runner import BridgeRunner
from client_sdk.ledger_client import LedgerClient
from client_sdk.wallet import Wallet
from core.clock import ManualClock
from ledger.rpc.server import RunningLedger, build_service, start_server
from tests.bridge.conftest import ALICE, BOB, BRIDGE, CAROL, DAVE, settle
from tests.bridge.processes import ROOT, bridge_environment
from tests.ledger_harness import TREASURY_TOKEN, LedgerHarness
from tests.sdk.test_ledger_client import _self_signed

pytestmark = pytest.mark.timeout(120)
SECRETS = ("BTT_BRIDGE_HOT_KEY", "BTT_BRIDGE_TREASURY_TOKEN")


def bridge(
    config: BridgeConfig, *args: str, without: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    environment = bridge_environment(config)
    for name in without:
        environment.pop(name)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def cli(
    config: BridgeConfig, *args: str, without: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    """The same command in this process (typer's runner): what a process would print."""
    environment: dict[str, str | None] = dict(bridge_environment(config))
    for name in without:
        environment[name] = None
    environment.update(env)
    result = CliRunner().invoke(app, list(args), env=environment)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_reads_need_no_secret_and_secrets_come_from_files(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig], tmp_path: Path
) -> None:
    ledger, config = bridge_env
    with BridgeRunner(config) as runner:
        deposit(runner.gateway, ALICE, BRIDGE.address, config.token_id, 9_000, CAROL.address)
        other = node.issue_token(BOB.address, "NOTBTT", 10**9)
        node.fund(BOB.address, 10_000_000)
        settle(node)
        deposit(runner.gateway, BOB, BRIDGE.address, other, 777, CAROL.address)
        settle(node)
        runner.run_once()
    with LedgerClient(ledger.target, CAROL) as carol:
        wid = carol.request_withdrawal(DAVE.address, 4_000).withdrawal_id

    # A depositor names the bridge's address; nothing asks for the hot key.
    key_file = tmp_path / "alice.key"
    key_file.write_text(ALICE.secret_bytes().hex())
    unnamed = bridge(
        config, "deposit", "--key-file", str(key_file), "--amount", "5", without=SECRETS
    )
    message = one_line_error(unnamed)
    assert "--bridge-address" in message and "hot key" not in message
    # Reads with the bridge's address alone: no hot key, no Treasury token.
    address_only = {"BTT_BRIDGE_BRIDGE_ADDRESS": BRIDGE.address}
    rec = bridge(config, "reconcile", "--json", without=SECRETS, **address_only)
    assert rec.returncode == 0, rec.stderr
    assert json.loads(rec.stdout)["ok"] is True
    status = bridge(config, "status", "--json", without=SECRETS, **address_only)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["token_balance"] == 9_000 and shown["other_tokens"] == {other: 777}
    text = cli(config, "status", without=SECRETS, **address_only).stdout
    assert f"other token {other}" in text and "777" in text

    # The Treasury token from a file (no flag takes it as a value: ps would show it).
    token_file = tmp_path / "treasury.token"
    token_file.write_text(TREASURY_TOKEN + "\n")
    listed = bridge(
        config,
        "--treasury-token-file",
        str(token_file),
        "withdrawals",
        "--json",
        without=("BTT_BRIDGE_TREASURY_TOKEN",),
    )
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["withdrawal_id"], row["status"], row["amount"]) == (wid, "pending", 4_000)
    ran = cli(config, "--treasury-token-file", str(token_file), "run", "--once")
    assert ran.returncode == 0, ran.stderr
    (txid,) = [line.split()[-1] for line in ran.stdout.splitlines() if "broadcast" in line]
    settle(node)
    assert cli(config, "run", "--once").returncode == 0
    paid = json.loads(cli(config, "withdrawals", "--status", "paid", "--json").stdout)
    assert [(r["withdrawal_id"], r["txid"], r["payout_txs"]) for r in paid] == [(wid, txid, [txid])]
    text = cli(config, "withdrawals").stdout
    assert f"{wid}" in text and "paid" in text and txid in text
    refused = cli(config, "--treasury-token", TREASURY_TOKEN, "status")
    assert refused.returncode != 0 and "No such option" in refused.stderr
    bad = one_line_error(cli(config, "withdrawals", "--status", "lost"))
    assert "pending, paid or failed" in bad
    missing = one_line_error(cli(config, "withdrawals", without=("BTT_BRIDGE_TREASURY_TOKEN",)))
    assert "treasury token is not set" in missing


def test_the_address_of_a_key_file_or_a_keystore(tmp_path: Path) -> None:
    config = BridgeConfig()
    raw = tmp_path / "raw.key"
    raw.write_text(ALICE.secret_bytes().hex())
    assert bridge(config, "address", "--key-file", str(raw)).stdout.strip() == ALICE.address
    wallet = Wallet.import_hex(
        tmp_path / "wallet.json", BOB.secret_bytes().hex(), "pw", scrypt_n=2**10
    )
    shown = bridge(config, "address", "--key-file", str(wallet.path), without=SECRETS)
    assert shown.stdout.strip() == BOB.address  # no password asked for
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    assert "not a wallet keystore" in one_line_error(
        cli(config, "address", "--key-file", str(junk))
    )


@pytest.fixture
def tls_ledger(tmp_path: Path) -> Iterator[tuple[RunningLedger, Path]]:
    tls = _self_signed(tmp_path)
    service = build_service(
        f"sqlite:///{tmp_path / 'tls.db'}", clock=ManualClock(), migrate=True, ledger_id="tls"
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(
        start_server(service, "127.0.0.1:0", tls=tls, treasury_token=TREASURY_TOKEN), loop
    ).result(30)
    try:
        yield running, tls.cert
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(0), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        service.store.dispose()


def test_tls_to_the_ledger(
    node: DevNode,
    bridge_env: tuple[LedgerHarness, BridgeConfig],
    tls_ledger: tuple[RunningLedger, Path],
) -> None:
    running, ca = tls_ledger
    config = bridge_env[1].model_copy(update={"ledger": f"localhost:{running.port}"})
    ok = bridge(config, "--ledger-ca-cert", str(ca), "run", "--once")
    assert ok.returncode == 0, ok.stderr
    rec = cli(config, "--ledger-ca-cert", str(ca), "reconcile", "--json")
    assert rec.returncode == 0 and json.loads(rec.stdout)["ok"], rec.stderr
    plaintext = one_line_error(bridge(config, "run", "--once"))
    assert "ledger" in plaintext
    # gRPC says only "unavailable"; the bridge says which side speaks what.
    assert plaintext == (
        f"error: the ledger at localhost:{running.port} speaks TLS but this bridge connects in "
        "plaintext: give the CA of its certificate with --ledger-ca-cert "
        "(BTT_BRIDGE_LEDGER_CA_CERT)"
    )
    tls_to_plain = one_line_error(bridge(bridge_env[1], "--ledger-ca-cert", str(ca), "run"))
    assert tls_to_plain.startswith(
        f"error: the ledger at {bridge_env[1].ledger} speaks plaintext but this bridge expects TLS"
    )
    other_dir = ca.parent / "other"
    other_dir.mkdir()
    other_ca = _self_signed(other_dir).cert
    wrong_ca = one_line_error(cli(config, "--ledger-ca-cert", str(other_ca), "run", "--once"))
    assert wrong_ca.startswith(
        f"error: the ledger at localhost:{running.port}: its certificate does not verify "
        f"against {other_ca}"
    )
    half = one_line_error(cli(config, "--ledger-client-cert", str(ca), "run", "--once"))
    assert "--ledger-client-key" in half
