"""Test-only fault points: BTT_BRIDGE_CRASH_AT=<point> makes the process SIGKILL itself there.

Points: after_sign, after_broadcast, after_inclusion, before_mark_paid, after_mark_paid,
after_credit. A SIGKILL skips every cleanup, as a power cut would.
"""

from __future__ import annotations

import os
import signal

ENV = "BTT_BRIDGE_CRASH_AT"
POINTS = frozenset(
    {
        "after_sign",
        "after_broadcast",
        "after_inclusion",
        "before_mark_paid",
        "after_mark_paid",
        "after_credit",
    }
)


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
