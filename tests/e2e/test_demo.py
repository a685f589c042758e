"""`btt demo`, the README's main job, runs to exit 0 and its books add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_btt_demo_runs_end_to_end(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from devnet.cli import main; main()",
            "demo",
            "--json",
            "--size-mib",
            "8",
            "--workdir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["reconcile_ok"] and result["audit_balanced"]
    assert result["failures"] == []
    downloads = result["downloads"]
    assert set(downloads) == {"downloader-A", "downloader-B"}
    assert all(d["complete"] for d in downloads.values())
    spent = sum(d["spent"] for d in downloads.values())
    # Everything the downloaders signed over reached the seeder, which withdrew it on chain.
    assert spent == result["seeder_earned"] > 0
    assert result["withdrawal_txid"]
    balances = {row["party"]: row for row in result["balances"]}
    assert balances["paid seeder"]["chain"] == result["seeder_earned"]
    assert balances["paid seeder"]["ledger"] == 0
    # Each paid peer was paid its rate for what it delivered, never above the budget.
    for d in downloads.values():
        assert d["spent"] <= d["budget"]
        for peer in d["peers"]:
            if not peer["paid"]:
                assert peer["units"] == 0
