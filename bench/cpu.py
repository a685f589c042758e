"""CPU seconds spent by processes, read from /proc (Linux): where a benchmark's CPU goes.

On a shared 2-core machine wall-clock rates move with the neighbours' load; CPU seconds per
operation, split between the ledger, PostgreSQL and the load generator, move much less.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its closing paren is fixed.
    return text[text.rindex(")") + 2 :].split()


def process_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads) so far."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree(pid: int) -> list[int]:
    """The process and all its descendants now alive."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def tree_seconds(pid: int) -> float:
    return sum(process_seconds(p) for p in tree(pid))


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of named process trees (and of this process) between `start` and `stop`."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: tree_seconds(pid) for name, pid in self.roots.items()}
        now["load generator"] = own_seconds()
        return now

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {name: round(end[name] - self._start.get(name, 0.0), 3) for name in end}
