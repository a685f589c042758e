"""`btt-ledger` as a real process for the operations tests: run a command, or serve until done."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEDGER = [sys.executable, "-m", "ledger.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any BTT_LEDGER_* setting of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTT_LEDGER_")}
    return {**env, **extra}


def run_ledger(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LEDGER, *args],
        cwd=ROOT,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error: ...` line a refused command prints (asserting exactly that)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    # Log lines (JSON, say a migration on start) may come first; then one plain line.
    lines = [x for x in result.stderr.strip().splitlines() if not x.startswith("{")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stderr.strip().endswith(lines[0])
    return lines[0]


@dataclass
class LedgerProcess:
    proc: subprocess.Popen[str]
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, needle: str, count: int = 1, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while (text := self.text()).count(needle) < count:
            assert self.proc.poll() is None or text.count(needle) >= count, text
            assert time.monotonic() < deadline, f"no {needle!r} x{count} in: {text}"
            time.sleep(0.05)
        return text

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise


@contextlib.contextmanager
def serving(
    *args: str, log: Path, env: dict[str, str] | None = None, ready: str = "listening on"
) -> Iterator[LedgerProcess]:
    """`btt-ledger serve ARGS` with stderr in `log`, once it says `ready`; stopped at the end."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*LEDGER, "serve", *args],
            cwd=ROOT,
            env=env or clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    running = LedgerProcess(proc, log)
    try:
        running.wait_for(ready)
        yield running
    finally:
        if proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.stop()
