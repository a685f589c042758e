"""`btt-bridge` as a real process, configured through its environment like an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from bridge.config import BridgeConfig
from tests.bridge.conftest import BRIDGE
from tests.ledger_harness import TREASURY_TOKEN

ROOT = Path(__file__).resolve().parents[2]


def bridge_environment(
    config: BridgeConfig, *, crash_at: str | None = None, db: str | None = None
) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BTT_BRIDGE_NODE_URL": config.node_url,
        "BTT_BRIDGE_LEDGER": config.ledger,
        "BTT_BRIDGE_TREASURY_TOKEN": TREASURY_TOKEN,
        "BTT_BRIDGE_DB": db or config.db,
        "BTT_BRIDGE_TOKEN_ID": config.token_id,
        "BTT_BRIDGE_HOT_KEY": BRIDGE.secret_bytes().hex(),
        "BTT_BRIDGE_POLL_INTERVAL": "0.05",
    }
    env.pop("BTT_BRIDGE_CRASH_AT", None)
    if crash_at:
        env["BTT_BRIDGE_CRASH_AT"] = crash_at
    return env


def start_bridge(
    config: BridgeConfig,
    *args: str,
    crash_at: str | None = None,
    db: str | None = None,
    output: IO[str] | None = None,
) -> subprocess.Popen[str]:
    """`btt-bridge ARGS` (default: run); its output goes to a pipe, or to `output`."""
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", *(args or ("run",))],
        cwd=ROOT,
        env=bridge_environment(config, crash_at=crash_at, db=db),
        stdout=output or subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_bridge(config: BridgeConfig, *args: str, db: str | None = None) -> str:
    """`btt-bridge ARGS` to completion; its output, asserting it exited 0."""
    proc = start_bridge(config, *args, db=db)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    return output
