"""`btt-ledger serve` as a real process on 127.0.0.1, for tests of what an operator runs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
# Retry the connection often while the process starts, not with gRPC's growing backoff.
QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 250),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LedgerProcess:
    process: subprocess.Popen[bytes]
    target: str
    metrics_url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text()


@contextlib.contextmanager
def ledger_process(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[LedgerProcess]:
    """Serve a fresh SQLite ledger with a metrics endpoint until the block ends; stderr (the
    log) goes to a file. The exit must be clean (code 0)."""
    port, metrics_port = free_port(), free_port()
    log = tmp_path / "ledger.log"
    argv = [
        sys.executable,
        "-m",
        "ledger.cli",
        "serve",
        "--db",
        f"sqlite:///{tmp_path / 'ledger.db'}",
        "--listen",
        f"127.0.0.1:{port}",
        "--metrics",
        f"127.0.0.1:{metrics_port}",
        *args,
    ]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "BTT_LEDGER_TREASURY_TOKEN": "t", **(env or {})},
            stderr=err,
        )
    running = LedgerProcess(
        proc, f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", log
    )
    try:
        with grpc.insecure_channel(running.target, options=QUICK_RECONNECT) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
    assert code == 0, running.log_text()[-2000:]
