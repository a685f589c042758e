"""CLI and settings: precedence, secrets kept out of output, one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import BridgeConfig, ConfigError, load_config
from bridge.devnode import DevNode
from bridge.tron import TronGateway
from tests.bridge.conftest import ALICE, BRIDGE

ROOT = Path(__file__).resolve().parents[2]
SECRET = BRIDGE.secret_bytes().hex()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_flags_beat_env_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "bridge.toml"
    toml.write_text('token_id = "1000001"\nledger = "127.0.0.1:1"\nmax_withdrawal = 7\n')
    monkeypatch.setenv("BTT_BRIDGE_LEDGER", "127.0.0.1:2")
    monkeypatch.setenv("BTT_BRIDGE_MAX_WITHDRAWAL", "8")
    config = load_config(config_file=toml, max_withdrawal=9)
    assert (config.token_id, config.ledger, config.max_withdrawal) == ("1000001", "127.0.0.1:2", 9)
    with pytest.raises(ConfigError, match="token_id"):
        load_config(config_file=toml, token_id="BTT")
    with pytest.raises(ConfigError, match="not found"):
        load_config(config_file=tmp_path / "missing.toml")
    assert BridgeConfig(network="nile").endpoint == "https://nile.trongrid.io"


def test_hot_key_never_shown(tmp_path: Path) -> None:
    key_file = tmp_path / "hot.key"
    key_file.write_text(SECRET)
    config = load_config(hot_key_file=key_file, hot_key=SECRET, treasury_token="t0ken")
    assert config.load_hot_key().address == BRIDGE.address
    for text in (repr(config), str(config), repr(config.load_hot_key())):
        assert SECRET not in text and "t0ken" not in text
    key_file.write_text("not hex " + SECRET[:10])
    with pytest.raises(ConfigError) as err:
        config.load_hot_key()
    assert SECRET[:10] not in str(err.value)


def test_unreachable_node_and_bad_input_are_one_line_errors(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BTT_BRIDGE_NODE_URL": f"http://127.0.0.1:{free_port()}",
        "BTT_BRIDGE_LEDGER": f"127.0.0.1:{free_port()}",
        "BTT_BRIDGE_TREASURY_TOKEN": "x",
        "BTT_BRIDGE_DB": f"sqlite:///{tmp_path / 'b.db'}",
        "BTT_BRIDGE_TOKEN_ID": "1000001",
        "BTT_BRIDGE_HOT_KEY": SECRET,
    }
    cases = [
        (["status"], "TRON node unreachable"),
        (["run", "--once"], "TRON node unreachable"),
        (["--token-id", "fake", "status"], "invalid setting token_id"),
        (["withdraw", "--key-file", "/nonexistent", "--amount", "1"], "cannot read key file"),
    ]
    for args, expected in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "bridge.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (
            args,
            proc.stderr,
        )
        assert "Traceback" not in proc.stderr and SECRET not in proc.stdout + proc.stderr


def test_issue_token_and_deposit_commands_on_a_devnode(node: DevNode, tmp_path: Path) -> None:
    key_file = tmp_path / "alice.key"
    key_file.write_text(ALICE.secret_bytes().hex())
    env = {"BTT_BRIDGE_NODE_URL": node.url, "BTT_BRIDGE_BRIDGE_ADDRESS": BRIDGE.address}
    cli = CliRunner()
    issued = cli.invoke(
        app, ["issue-token", "--key-file", str(key_file), "--supply", "1000"], env=env
    )
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    node.fund(ALICE.address, 10_000_000)
    sent = cli.invoke(
        app,
        ["--token-id", token, "deposit", "--key-file", str(key_file), "--amount", "250"],
        env=env,
    )
    assert sent.exit_code == 0, sent.output
    node.produce_blocks(1)
    gw = TronGateway(node.url)
    assert gw.token_balance(BRIDGE.address, token, solid=False) == 250
    assert gw.token_balance(ALICE.address, token, solid=False) == 750
    gw.close()


def test_version_as_a_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    program, version, *_ = done.stdout.split()
    assert program == "btt-bridge" and version[0].isdigit()


def test_the_documented_sample_config_loads(tmp_path: Path) -> None:
    """docs/bridge.md's sample bridge.toml is a file the bridge accepts as written."""
    text = (ROOT / "docs" / "bridge.md").read_text()
    sample = text.split("A sample `bridge.toml`:", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    toml = tmp_path / "bridge.toml"
    toml.write_text(sample)
    config = load_config(config_file=toml)
    assert config.network == "devnode" and config.token_id == "1000001"
    assert config.max_withdrawal == 1_000_000_000 and config.daily_limit == 10_000_000_000
    assert str(config.treasury_token_file) == "/etc/btt/treasury.token"
