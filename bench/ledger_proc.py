"""A `btt-ledger serve` process for the benchmarks, and the small measures they share."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from client_sdk.treasury_client import TreasuryClient

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"

# A ledger that is still starting refuses the first connection; gRPC's default reconnect backoff
# (growing to 120 s) would outlast it on a busy machine.
QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 250),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Ledger:
    target: str
    pid: int


@contextlib.contextmanager
def ledger_process(db_url: str, ledger_id: str, processes: int = 1) -> Iterator[Ledger]:
    """A migrated ledger serving on a free loopback port, its Treasury open to TOKEN."""
    port = free_port()
    cmd = [
        *(sys.executable, "-m", "ledger.cli", "serve", "--db", db_url),
        *("--listen", f"127.0.0.1:{port}", "--ledger-id", ledger_id, "--migrate"),
        *("--log-level", "WARNING", "--processes", str(processes)),
    ]
    env = {**os.environ, "BTT_LEDGER_TREASURY_TOKEN": TOKEN}  # a secret is never an argument
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target, options=QUICK_RECONNECT) as ch:
            grpc.channel_ready_future(ch).result(timeout=60)
        yield Ledger(target, proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fund(target: str, accounts: Iterable[str], amount: int, token: str = TOKEN) -> None:
    """Credit each account as a deposit would, through the Treasury."""
    with TreasuryClient(target, token) as treasury:
        for account in accounts:
            treasury.credit_deposit(os.urandom(32).hex(), 0, account, amount, account)
