"""`btt-bridge` as an operator meets it: one settings story (flags over environment over the TOML
file, each setting documented in docs/bridge.md) and one `error: ...` line with a non-zero exit
for every mistake, run as processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bridge.cli import app
from bridge.config import SECRET_VALUES, BridgeConfig, flag_of, settings_reference
from bridge.devnode import DevNode
from tests.bridge.conftest import BRIDGE

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
SECRET = BRIDGE.secret_bytes().hex()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any BTT_BRIDGE_ setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTT_BRIDGE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(settings)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def in_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The same command run by typer's runner in this process: what the process would print."""
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("BTT_BRIDGE_")}
    overrides.update({k: v for k, v in env.items() if k.startswith("BTT_BRIDGE_")})
    result = CliRunner().invoke(app, args, env=overrides)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.args, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (proc.args, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert SECRET not in proc.stderr + proc.stdout
    return lines[0]


def test_every_setting_is_documented_and_has_its_flag() -> None:
    doc = (ROOT / "docs" / "bridge.md").read_text()
    assert settings_reference() in doc  # regenerate the table there when a setting changes
    flags = {opt for param in typer.main.get_command(app).params for opt in param.opts}
    for name, info in BridgeConfig.model_fields.items():
        assert info.description, name
        assert f"`BTT_BRIDGE_{name.upper()}`" in doc
        if name in SECRET_VALUES:  # a flag's value shows in ps: files and the environment only
            assert flag_of(name) is None and "--" + name.replace("_", "-") not in flags
            assert f"`{name}_file`" in doc
        else:
            assert flag_of(name) in flags, name
    assert len(flags - {"--help", "--version"}) == len(BridgeConfig.model_fields) - len(
        SECRET_VALUES
    )


def test_settings_come_from_flags_over_environment_over_file(tmp_path: Path) -> None:
    toml = tmp_path / "bridge.toml"
    toml.write_text(
        'token_id = "1000001"\nledger = "10.0.0.1:1"\nmax_withdrawal = 7\ndaily_limit = 5\n'
        f'db = "sqlite:///{tmp_path / "b.db"}"\n'
    )
    env = environment(
        BTT_BRIDGE_LEDGER="127.0.0.2:2", BTT_BRIDGE_MAX_WITHDRAWAL="8", BTT_BRIDGE_HOT_KEY=SECRET
    )
    shown = finish(
        start(["--config", str(toml), "--max-withdrawal", "9", "settings", "--json"], env)
    )
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout
    rows = {row["setting"]: (row["value"], row["source"]) for row in json.loads(shown.stdout)}
    assert rows["config_file"] == (str(toml), "flag --config")
    assert rows["token_id"] == ("1000001", "file")
    assert rows["daily_limit"] == (5, "file")
    assert rows["ledger"] == ("127.0.0.2:2", "env BTT_BRIDGE_LEDGER")
    assert rows["max_withdrawal"] == (9, "flag --max-withdrawal")
    assert rows["lease_seconds"] == (30, "default")
    assert rows["hot_key"] == ("(set)", "env BTT_BRIDGE_HOT_KEY")
    assert rows["treasury_token"] == (None, "default")
    assert set(rows) == set(BridgeConfig.model_fields)

    # The file named by the environment; a person reads the same as a table.
    by_env = finish(start(["settings"], environment(BTT_BRIDGE_CONFIG_FILE=str(toml))))
    assert by_env.returncode == 0, by_env.stderr
    lines = {line.split()[0]: line.split()[1:] for line in by_env.stdout.splitlines()}
    assert lines["max_withdrawal"] == ["7", "file"]
    assert lines["config_file"] == [str(toml), "env", "BTT_BRIDGE_CONFIG_FILE"]


def test_every_mistake_is_one_error_line(tmp_path: Path) -> None:
    """Nothing listens at the node or the ledger here: each mistake is found before either
    matters, or is that they are unreachable."""
    typo, broken = tmp_path / "typo.toml", tmp_path / "broken.toml"
    typo.write_text('tokn_id = "1000001"\n')
    broken.write_text('token_id = "1000001\n')
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    env = environment(
        BTT_BRIDGE_NODE_URL=f"http://127.0.0.1:{free_port()}",
        BTT_BRIDGE_LEDGER=f"127.0.0.1:{free_port()}",
        BTT_BRIDGE_TREASURY_TOKEN="t0ken",
        BTT_BRIDGE_DB=f"sqlite:///{tmp_path / 'b.db'}",
        BTT_BRIDGE_TOKEN_ID="1000001",
        BTT_BRIDGE_HOT_KEY=SECRET,
    )
    no_secrets = {k: v for k, v in env.items() if k not in ("BTT_BRIDGE_HOT_KEY",)}
    no_secrets.pop("BTT_BRIDGE_TREASURY_TOKEN")
    # (args, environment, expected, as a process): processes where the process matters (the
    # socket, the database file, the network, the config file read at start), else in-process.
    cases: list[tuple[list[str], dict[str, str], str, bool]] = [
        (["--config", str(tmp_path / "none.toml"), "run"], env, "config file not found", True),
        (["--config", str(broken), "run"], env, f"config file {broken} is not valid TOML", False),
        (
            ["--config", str(typo), "run"],
            env,
            f"unknown setting 'tokn_id' in config file {typo}",
            False,
        ),
        (["--poll-interval", "0", "run"], env, "invalid setting poll_interval: must be", False),
        (["--network", "mainnet", "status"], env, "invalid setting network", False),
        (["--lease-seconds", "0", "run"], env, "invalid setting lease_seconds: must be 1", False),
        (
            ["run", "--metrics", "127.0.0.1:99999"],
            env,
            "port of 1..65535, got '127.0.0.1:99999'",
            False,
        ),
        (["run", "--once", "--metrics", "127.0.0.1:9109"], env, "not with --once", False),
        (
            ["run", "--metrics", f"127.0.0.1:{busy_port}"],
            env,
            f"cannot serve metrics on 127.0.0.1:{busy_port}: Address already in use",
            True,
        ),
        (
            ["--db", "postgresql+psycopg://bridge@127.0.0.1:1/bridge", "run"],
            env,
            'bridge database: connection failed: connection to server at "127.0.0.1", port 1',
            True,
        ),
        (
            ["--db", f"sqlite:///{typo}/b.db", "run"],
            env,
            f"cannot make the database's directory (File exists): {typo}",
            False,
        ),
        (["run"], no_secrets, "no hot key: set --hot-key-file or BTT_BRIDGE_HOT_KEY", False),
        (
            ["--treasury-token-file", str(tmp_path / "none.token"), "withdrawals"],
            no_secrets,
            "cannot read",
            False,
        ),
        (["withdrawals", "--status", "lost"], env, "--status must be pending, paid or", False),
        (["status"], no_secrets, "the bridge's TRON address is not set", False),
        (["run"], env, "TRON node unreachable", True),
        (["--hot-key-file", str(tmp_path), "run"], no_secrets, "cannot read hot key file", False),
    ]
    try:
        procs = [(start(args, e), expected) for args, e, expected, process in cases if process]
        for args, e, expected, process in cases:
            if not process:
                line = error_line(in_process(args, e))
                assert expected in line, (args, line)
        for proc, expected in procs:
            line = error_line(finish(proc))
            assert expected in line, (proc.args, line)
    finally:
        busy.close()


def test_run_fails_fast_when_the_ledger_is_unreachable(node: DevNode, tmp_path: Path) -> None:
    """`run` finds the node but nothing listens at the ledger: it says so and exits, rather than
    retrying forever in silence."""
    port = free_port()
    env = environment(
        BTT_BRIDGE_NODE_URL=node.url,
        BTT_BRIDGE_LEDGER=f"127.0.0.1:{port}",
        BTT_BRIDGE_TREASURY_TOKEN="t0ken",
        BTT_BRIDGE_DB=f"sqlite:///{tmp_path / 'b.db'}",
        BTT_BRIDGE_TOKEN_ID="1000001",
        BTT_BRIDGE_HOT_KEY=SECRET,
    )
    line = error_line(finish(start(["run"], env)))
    assert line == f"error: the ledger at 127.0.0.1:{port} is unreachable (nothing answers there)"
