"""`btt-ledger serve --processes N` keeps its workers running: a killed worker is restarted with
backoff and serves again; SIGTERM stops them all (issue 8, section 5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from ledger.supervisor import Backoff
from tests.ledger_proc import ROOT, LedgerProcess, free_port, run_ledger, serving

pytestmark = pytest.mark.timeout(180)


def test_backoff_doubles_to_a_cap_and_resets_after_a_healthy_minute() -> None:
    b = Backoff()
    delays = [b.after_exit(ran_for=1.0) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert b.after_exit(ran_for=59.9) == 30.0
    assert b.after_exit(ran_for=60.0) == 0.5  # it ran a healthy minute: start over
    assert b.after_exit(ran_for=0.1) == 1.0


def _records(ledger: LedgerProcess, msg: str) -> list[dict[str, object]]:
    lines = [line for line in ledger.text().splitlines() if line.startswith("{")]
    return [r for r in map(json.loads, lines) if r.get("msg") == msg]


def _workers(ledger: LedgerProcess) -> dict[int, int]:
    """Worker index -> pid of its latest start."""
    return {int(r["worker"]): int(r["pid"]) for r in _records(ledger, "worker started")}  # type: ignore[call-overload]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _serves(target: str) -> str:
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=20)
        return pb_grpc.LedgerStub(ch).GetInfo(pb.GetInfoRequest(), timeout=10).ledger_id


def test_a_killed_worker_is_restarted_and_serves_again(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    target = f"127.0.0.1:{port}"
    args = (
        *("--db", f"sqlite:///{tmp_path / 'l.db'}", "--listen", target),
        *("--processes", "2", "--ledger-id", "supervised"),
        *("--metrics", f"127.0.0.1:{metrics_port}"),
    )
    with serving(*args, log=tmp_path / "ledger.log") as ledger:
        ledger.wait_for("listening on", 2)
        first = _workers(ledger)
        assert sorted(first) == [0, 1]
        timings = []
        listening = 2
        for index in (0, 1):
            killed_at = time.monotonic()
            os.kill(_workers(ledger)[index], signal.SIGKILL)
            listening += 1
            ledger.wait_for("listening on", listening, timeout=60)
            timings.append(time.monotonic() - killed_at)
        now = _workers(ledger)
        assert all(now[i] != first[i] and _alive(now[i]) for i in (0, 1)), (first, now)
        assert not any(_alive(pid) for pid in first.values())
        # Both original workers are gone: whatever answers now was restarted.
        assert {_serves(target) for _ in range(4)} == {"supervised"}
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert b"btt_rpc_calls_total" in metrics.read()
        exits = _records(ledger, "worker exited; restarting")
        assert [(r["worker"], r["exit_code"], r["restart_in_seconds"]) for r in exits] == [
            (0, -9, 0.5),
            (1, -9, 0.5),
        ]
        # A worker that dies again soon waits twice as long.
        killed_at = time.monotonic()
        os.kill(now[0], signal.SIGKILL)
        ledger.wait_for("listening on", listening + 1, timeout=60)
        timings.append(time.monotonic() - killed_at)
        assert _records(ledger, "worker exited; restarting")[-1]["restart_in_seconds"] == 1.0
        assert timings[2] >= 1.0
        print(f"kill to serving again: {', '.join(f'{t:.2f} s' for t in timings)}")
        last = _workers(ledger)
        assert ledger.stop() == 0
    assert not any(_alive(pid) for pid in last.values())
    assert "Traceback" not in ledger.text()
    assert _records(ledger, "stopped")


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    """A port another program holds fails every worker's first start: exit 2, not a restart loop."""
    port = free_port()
    db = f"sqlite:///{tmp_path / 'l.db'}"
    with serving("--db", db, "--listen", f"127.0.0.1:{port}", log=tmp_path / "other.log"):
        refused = run_ledger(
            "serve", "--db", db, "--listen", f"127.0.0.1:{port}", "--processes", "2"
        )
    assert refused.returncode == 2, refused.stderr
    assert "worker failed on its first start; stopping" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """deploy/btt-ledger.service passes `systemd-analyze verify` without a warning, with its
    btt-ledger path pointed at this install."""
    unit = (ROOT / "deploy" / "btt-ledger.service").read_text()
    exec_start = [x for x in unit.splitlines() if x.startswith("ExecStart=")]
    assert exec_start == [
        "ExecStart=/opt/btt/venv/bin/btt-ledger serve --config /etc/btt/ledger.toml"
    ]
    here = tmp_path / "btt-ledger.service"
    here.write_text(unit.replace("/opt/btt/venv/bin", str(Path(sys.executable).parent)))
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(here)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
    bad = tmp_path / "bad.service"
    bad.write_text(here.read_text().replace("KillMode=mixed", "KillMode=mixd"))
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert "kill mode" in checked.stderr  # the check above could fail
