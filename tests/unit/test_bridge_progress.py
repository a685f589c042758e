"""`btt-bridge run`'s progress: the tally of passes, and the live line on a terminal."""

from __future__ import annotations

import io

import pytest

from bridge.payout import PayoutResult
from bridge.progress import Progress, Tally
from bridge.runner import PassResult
from bridge.watcher import ScanResult

A, B = "a" * 64, "b" * 64


def test_the_tally_counts_each_pass_and_keeps_the_latest_in_flight() -> None:
    tally = Tally()
    assert tally.line() == (
        "block - | deposits: 0 seen, 0 to accounts (0 units), 0 in suspense | payouts: 0 in "
        "flight (0 held), 0 sent, 0 confirmed, 0 failed"
    )
    scan = ScanResult(
        scanned_to=7,
        credited=[(A, 0, "Tcarol", 9_000), (A, 1, "Tdave", 1)],
        already=[(B, 0)],
        suspense=[(B, 1, "no memo")],
    )
    tally.add(scan, PayoutResult(broadcast=[(1, A)], held=[(2, "daily limit")], pending=3))
    tally.add(
        ScanResult(scanned_to=None),
        PayoutResult(paid=[(1, A)], failed=[(3, "refused")], replaced=[(2, B)], pending=1),
    )
    tally.failed_pass()
    assert tally.line() == (
        "block 7 | deposits: 4 seen, 2 to accounts (9001 units), 1 in suspense | payouts: 1 in "
        "flight (0 held), 1 sent, 1 confirmed, 1 failed"
    )
    assert (tally.passes, tally.failed_passes, tally.replaced) == (2, 1, 1)
    assert tally.summary().endswith(" s, 2 passes (1 failed): " + tally.line())


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_stays_below_the_events(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    progress = Progress()
    progress.on_pass(PassResult(ScanResult(scanned_to=5), PayoutResult()))
    progress.on_pass(
        PassResult(ScanResult(scanned_to=6, credited=[(A, 0, "Tcarol", 10)]), PayoutResult())
    )
    progress.summary()
    shown = screen.getvalue()
    erase = "\r\x1b[2K"
    first, second = (Tally(), Tally())
    first.add(ScanResult(scanned_to=5), PayoutResult())
    second.add(ScanResult(scanned_to=5), PayoutResult())
    second.add(ScanResult(scanned_to=6, credited=[(A, 0, "Tcarol", 10)]), PayoutResult())
    assert shown.startswith(erase + first.line() + erase)  # redrawn in place, never a new line
    assert f"{erase}deposit {A}:0 credited 10 to Tcarol\n{erase}{second.line()}" in shown
    assert shown.endswith(erase + "stopped after " + shown.rsplit("stopped after ", 1)[1])
    assert "progress: " not in shown
