"""What a running bridge has done so far: counted from each pass's result, shown as one line.

`btt-bridge run` shows the line live on a terminal, prints it to a log whenever it changes,
and prints the summary when it stops.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import typer

from bridge.payout import PayoutResult
from bridge.runner import PassResult
from bridge.watcher import ScanResult


@dataclass
class Tally:
    started: float = field(default_factory=time.monotonic)
    passes: int = 0
    failed_passes: int = 0
    scanned_to: int | None = None  # last block scanned
    deposits_seen: int = 0  # credited, suspense or credited before (by an earlier run)
    deposits_credited: int = 0
    units_credited: int = 0
    suspense: int = 0
    in_flight: int = 0  # pending withdrawals at the last pass
    broadcast: int = 0
    replaced: int = 0
    paid: int = 0
    failed: int = 0
    held: int = 0  # pending withdrawals held at the last pass (limits, an operator's call)

    def add(self, scan: ScanResult, payout: PayoutResult) -> None:
        self.passes += 1
        if scan.scanned_to is not None:
            self.scanned_to = scan.scanned_to
        self.deposits_seen += len(scan.credited) + len(scan.already) + len(scan.suspense)
        self.deposits_credited += len(scan.credited)
        self.units_credited += sum(amount for *_, amount in scan.credited)
        self.suspense += len(scan.suspense)
        self.in_flight = payout.pending
        self.broadcast += len(payout.broadcast)
        self.replaced += len(payout.replaced)
        self.paid += len(payout.paid)
        self.failed += len(payout.failed)
        self.held = len(payout.held)

    def failed_pass(self) -> None:
        self.failed_passes += 1

    def line(self) -> str:
        # Other words than the event lines' ("credited", "broadcast", "paid"), so a log
        # searched for events finds only events.
        block = "-" if self.scanned_to is None else str(self.scanned_to)
        return (
            f"block {block} | deposits: {self.deposits_seen} seen, {self.deposits_credited} to "
            f"accounts ({self.units_credited} units), {self.suspense} in suspense | payouts: "
            f"{self.in_flight} in flight ({self.held} held), {self.broadcast} sent, "
            f"{self.paid} confirmed, {self.failed} failed"
        )

    def summary(self) -> str:
        seconds = time.monotonic() - self.started
        return (
            f"stopped after {seconds:.1f} s, {self.passes} passes ({self.failed_passes} failed): "
            + self.line()
        )


def report(result: PassResult) -> None:
    """One line per event of a pass."""
    for txid, index, account, amount in result.scan.credited:
        typer.echo(f"deposit {txid}:{index} credited {amount} to {account}")
    for txid, index, reason in result.scan.suspense:
        typer.echo(f"deposit {txid}:{index} in suspense: {reason}")
    p = result.payout
    for wid, txid in p.broadcast:
        typer.echo(f"withdrawal {wid} broadcast {txid}")
    for wid, txid in p.replaced:
        typer.echo(f"withdrawal {wid} expired unseen, replaced by {txid}")
    for wid, txid in p.paid:
        typer.echo(f"withdrawal {wid} paid {txid}")
    for wid, reason in p.failed:
        typer.echo(f"withdrawal {wid} failed: {reason}")
    for wid, reason in p.held:
        typer.echo(f"withdrawal {wid} held: {reason}")
    sys.stdout.flush()


class Progress:
    """`run`'s running account: events as lines; on a terminal one live status line below them,
    in a log the status line whenever something other than the block changed (or a minute
    passed); the summary at the end."""

    HEARTBEAT = 60.0

    def __init__(self) -> None:
        self.tally = Tally()
        self.live = sys.stdout.isatty()
        self._last_key, self._last_at = "", 0.0
        self._status_shown = False

    def on_pass(self, result: PassResult) -> None:
        self.tally.add(result.scan, result.payout)
        self._clear()
        report(result)
        self.show()

    def on_error(self, exc: Exception) -> None:
        self.tally.failed_pass()

    def show(self) -> None:
        line = self.tally.line()
        if self.live:
            sys.stdout.write(f"\r\x1b[2K{line}")
            sys.stdout.flush()
            self._status_shown = True
            return
        key = line.split(" | ", 1)[1]  # everything but the block
        now = time.monotonic()
        if key != self._last_key or now - self._last_at >= self.HEARTBEAT:
            typer.echo(f"progress: {line}")
            sys.stdout.flush()
            self._last_key, self._last_at = key, now

    def _clear(self) -> None:
        if self._status_shown:
            sys.stdout.write("\r\x1b[2K")
            self._status_shown = False

    def summary(self) -> None:
        self._clear()
        typer.echo(self.tally.summary())
        sys.stdout.flush()
