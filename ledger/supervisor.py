"""`btt-ledger serve --processes N`: run N workers on one port and keep them running.

A worker that dies is started again after a backoff (0.5 s, doubling to 30 s; back to 0.5 s once
a worker has run a healthy minute), each exit and restart logged. SIGTERM or SIGINT stops every
worker and then the supervisor. A worker that fails on its very first start with exit code 2 (a
configuration error: the port is taken, the database refuses) stops the lot: restarting it could
not help, and the operator's supervisor (systemd) reports it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("ledger.supervisor")

CHILD_ENV = "BTT_LEDGER_PROCESS_INDEX"
CONFIG_EXIT = 2  # the CLI's exit code for an error no restart can fix


@dataclass
class Backoff:
    """Delay before restarting a worker: pure, the clock is passed in."""

    first: float = 0.5
    cap: float = 30.0
    healthy: float = 60.0
    next_delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.next_delay = self.first

    def after_exit(self, ran_for: float) -> float:
        """The delay before the next start of a worker that ran `ran_for` seconds."""
        if ran_for >= self.healthy:
            self.next_delay = self.first
        delay = self.next_delay
        self.next_delay = min(self.next_delay * 2, self.cap)
        return delay


@dataclass
class Slot:
    index: int
    backoff: Backoff = field(default_factory=Backoff)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float | None = None
    starts: int = 0


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM if the supervisor itself is killed (no orphans on the port)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def supervise(
    processes: int,
    argv: Sequence[str] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    backoff: Callable[[], Backoff] = Backoff,
    poll: float = 0.1,
) -> int:
    """Run `processes` copies of this command (each with its index in CHILD_ENV) until a signal.
    Returns the exit code for the supervisor."""
    command = (
        list(argv) if argv is not None else [sys.executable, "-m", "ledger.cli", *sys.argv[1:]]
    )
    slots = [Slot(i, backoff()) for i in range(processes)]
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    def start(slot: Slot) -> None:
        env = {**os.environ, CHILD_ENV: str(slot.index)}
        slot.proc = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)
        slot.started, slot.restart_at = clock(), None
        slot.starts += 1
        log.info(
            "worker started",
            extra={"worker": slot.index, "pid": slot.proc.pid, "start": slot.starts},
        )

    for slot in slots:
        start(slot)
    code = 0
    while not stopping:
        time.sleep(poll)
        now = clock()
        for slot in slots:
            if slot.proc is not None and (rc := slot.proc.poll()) is not None:
                ran = now - slot.started
                if rc == CONFIG_EXIT and slot.starts == 1:
                    log.error(
                        "worker failed on its first start; stopping",
                        extra={"worker": slot.index, "exit_code": rc},
                    )
                    stopping.append(0)
                    code = CONFIG_EXIT
                    break
                delay = slot.backoff.after_exit(ran)
                log.warning(
                    "worker exited; restarting",
                    extra={
                        "worker": slot.index,
                        "pid": slot.proc.pid,
                        "exit_code": rc,
                        "ran_seconds": round(ran, 3),
                        "restart_in_seconds": delay,
                    },
                )
                slot.proc, slot.restart_at = None, now + delay
            if slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
                start(slot)
    return _stop_all(slots, stopping[0] or signal.SIGTERM, code)


def _stop_all(slots: list[Slot], signum: int, code: int, grace: float = 20.0) -> int:
    running = [s.proc for s in slots if s.proc is not None and s.proc.poll() is None]
    for proc in running:
        proc.send_signal(signum)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            rc = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if rc not in (0, -signum):
            code = code or 1
    log.info("stopped", extra={"workers": len(slots)})
    return code
