"""`btt` as a user runs it: a real process against a real ledger on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.main import get_command

from client_sdk.cli import app
from client_sdk.clikit import hoist_global_options
from client_sdk.wallet import Wallet
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness

PASSWORD = "correct horse battery staple"


def btt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `btt` (devnet.cli), with no BTT_* variables unless given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTT_")}
    done = subprocess.run(
        [sys.executable, "-c", "from devnet.cli import main; main()", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def make_wallet(home: Path) -> str:
    return Wallet.create(home / "wallet.json", PASSWORD, scrypt_n=2**4).address


def test_global_options_after_the_subcommand(ledger: LedgerHarness, tmp_path: Path) -> None:
    home = tmp_path / "home"
    address = make_wallet(home)
    ledger.fund(address, 3_000_000)
    done = btt(
        "balance", "--json", "--ledger", ledger.target, "--home", str(home), "--password", PASSWORD
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"account": address, "balance": 3_000_000, "nonce": 0}
    # `--opt=value` spelling, a nested group, and the options split around the subcommand.
    done = btt(
        f"--home={home}",
        "channel",
        "list",
        "--status",
        "open",
        f"--ledger={ledger.target}",
        "--json",
        env={"BTT_PASSWORD": PASSWORD},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"channels": []}


def test_hoisting_leaves_the_subcommands_own_options() -> None:
    group = get_command(app)
    assert hoist_global_options(group, ["balance", "--json", "--ledger", "h:1"]) == [
        "--json",
        "--ledger",
        "h:1",
        "balance",
    ]
    # `transfer --memo --json` : the memo's value is "--json", not the global flag.
    args = ["transfer", "T1", "1", "--memo", "--json"]
    assert hoist_global_options(group, args) == args
    # After `--` nothing moves; an unknown command is left for click to report.
    assert hoist_global_options(group, ["events", "--", "--json"]) == ["events", "--", "--json"]
    assert hoist_global_options(group, ["nope", "--json"]) == ["nope", "--json"]
    key = SigningKey.generate()
    assert hoist_global_options(group, ["balance", key.address, "--timeout=2"]) == [
        "--timeout=2",
        "balance",
        key.address,
    ]
