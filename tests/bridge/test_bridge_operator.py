"""`btt-bridge` tells the operator what is wrong: start checks, status warnings, collapsed
repeats; `fund` on a devnode; a wallet keystore as the hot key. Real processes against a devnode
and a ledger server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bridge.devnode import DevNode
from client_sdk.wallet import Wallet
from core.crypto import SigningKey
from tests.bridge.conftest import settle
from tests.ledger_harness import TREASURY_TOKEN, running_ledger

ROOT = Path(__file__).resolve().parents[2]


def bridge(
    env: dict[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from bridge.cli import main; main()", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_run_refuses_a_hot_address_without_trx_and_fund_fixes_it(
    node: DevNode, token: str, tmp_path: Path
) -> None:
    hot = SigningKey.generate()
    with running_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        env = {
            "BTT_BRIDGE_NODE_URL": node.url,
            "BTT_BRIDGE_LEDGER": ledger.target,
            "BTT_BRIDGE_TREASURY_TOKEN": TREASURY_TOKEN,
            "BTT_BRIDGE_DB": f"sqlite:///{tmp_path / 'bridge.db'}",
            "BTT_BRIDGE_TOKEN_ID": token,
            "BTT_BRIDGE_HOT_KEY": hot.secret_bytes().hex(),
        }
        refused = bridge(env, "run", "--once")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr
        assert f"ERROR: hot address {hot.address} has no TRX" in refused.stderr
        assert f"btt-bridge fund {hot.address} 100 --trx" in refused.stderr
        status = json.loads(bridge(env, "status", "--json").stdout)
        assert [w["severity"] for w in status["warnings"]] == ["error"]

        funded = bridge(env, "fund", hot.address, "5", "--trx")
        assert funded.returncode == 0, funded.stderr
        assert f"funded {hot.address} with 5000000 sun" in funded.stdout
        settle(node)
        low = bridge(env, "run", "--once")
        assert low.returncode == 0, low.stderr
        assert "WARNING: hot address" in low.stderr and "holds only 5 TRX" in low.stderr
        assert bridge(env, "fund", hot.address, "7u").returncode == 0  # 7 token units
        settle(node)
        status = json.loads(bridge(env, "status", "--json").stdout)
        assert status["trx_balance"] == 5_000_000 and status["token_balance"] == 7
        assert [w["severity"] for w in status["warnings"]] == ["warning"]
        unfunded = {**env, "BTT_BRIDGE_HOT_KEY": SigningKey.generate().secret_bytes().hex()}
        skipped = bridge(unfunded, "run", "--once", "--skip-checks")
        assert skipped.returncode == 0, skipped.stderr
        assert "ERROR" not in skipped.stderr


def test_a_wallet_keystore_is_a_hot_key(node: DevNode, token: str, tmp_path: Path) -> None:
    wallet = Wallet.create(tmp_path / "hot.json", "s3cret", scrypt_n=2**10)
    node.fund(wallet.address, 100_000_000)
    settle(node)
    env = {
        "BTT_BRIDGE_NODE_URL": node.url,
        "BTT_BRIDGE_DB": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BTT_BRIDGE_TOKEN_ID": token,
        "BTT_BRIDGE_HOT_KEY_FILE": str(tmp_path / "hot.json"),
    }
    missing = bridge(env, "status", "--json")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"error: {tmp_path / 'hot.json'} is a wallet keystore: set its password in "
        "BTT_BRIDGE_HOT_KEY_PASSWORD"
    )
    wrong = bridge({**env, "BTT_BRIDGE_HOT_KEY_PASSWORD": "nope"}, "status", "--json")
    assert wrong.returncode == 2 and "wrong password" in wrong.stderr
    opened = bridge({**env, "BTT_BRIDGE_HOT_KEY_PASSWORD": "s3cret"}, "status", "--json")
    assert opened.returncode == 0, opened.stderr
    status = json.loads(opened.stdout)
    assert status["bridge_address"] == wallet.address and status["warnings"] == []
    assert wallet.signing_key.secret_bytes().hex() not in opened.stdout + opened.stderr


def test_a_payout_failing_every_pass_is_logged_once(
    node: DevNode, token: str, tmp_path: Path
) -> None:
    """The tester's case: a hot address without TRX cannot pay the bandwidth of a payout to a
    new account, and the bridge used to log that about once a second."""
    hot, user = SigningKey.generate(), SigningKey.generate()
    node.fund(hot.address, 1_000, token)
    settle(node)
    key_file = tmp_path / "user.key"
    key_file.write_text(user.secret_bytes().hex())
    with running_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ledger.fund(user.address, 500)
        env = {
            "BTT_BRIDGE_NODE_URL": node.url,
            "BTT_BRIDGE_LEDGER": ledger.target,
            "BTT_BRIDGE_TREASURY_TOKEN": TREASURY_TOKEN,
            "BTT_BRIDGE_DB": f"sqlite:///{tmp_path / 'bridge.db'}",
            "BTT_BRIDGE_TOKEN_ID": token,
            "BTT_BRIDGE_HOT_KEY": hot.secret_bytes().hex(),
            "BTT_BRIDGE_POLL_INTERVAL": "0.05",
        }
        fresh = SigningKey.generate().address
        asked = bridge(
            env, "withdraw", "--key-file", str(key_file), "--amount", "300", "--to", fresh
        )
        assert asked.returncode == 0, asked.stderr
        proc = subprocess.Popen(
            [sys.executable, "-c", "from bridge.cli import main; main()", "run", "--skip-checks"],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        started = proc.stdout.readline()  # "bridge T... token ... on ...": passes begin
        assert started.startswith("bridge "), started
        time.sleep(3)  # dozens of passes, 50 ms apart, each failing to broadcast
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    failures = [line for line in err.splitlines() if "broadcast of" in line]
    assert len(failures) == 1, out[-2000:] + err[-2000:]
    assert "BANDWITH_ERROR" in failures[0]
    assert "Traceback" not in err
