"""The bridge's operator checks (pure) and the log filter that collapses repeating warnings."""

from __future__ import annotations

import logging

import pytest

from bridge.preflight import RECOMMENDED_TRX, Severity, check_hot_address
from bridge.repeats import CollapseRepeats

ADDRESS = "TCLBgkbfVkJroVBJVqBEsxtPNQEQMTQCLQ"


def findings(**overrides: int | str) -> list[tuple[Severity, str]]:
    args: dict[str, int | str] = {
        "address": ADDRESS,
        "token_id": "1000001",
        "trx_balance": RECOMMENDED_TRX,
        "token_balance": 0,
        "pending_withdrawals": 0,
        "network": "devnode",
    }
    args.update(overrides)
    return [(f.severity, str(f)) for f in check_hot_address(**args)]  # type: ignore[arg-type]


def test_a_funded_hot_address_passes() -> None:
    assert findings() == []


def test_no_trx_is_an_error_that_says_what_to_do() -> None:
    [(severity, text)] = findings(trx_balance=0)
    assert severity is Severity.ERROR
    assert "BANDWITH_ERROR" in text and f"btt-bridge fund {ADDRESS} 100 --trx" in text
    [(_, text)] = findings(trx_balance=0, network="nile")
    assert f"send TRX to {ADDRESS}" in text


def test_low_trx_and_missing_token_are_warnings() -> None:
    [(severity, text)] = findings(trx_balance=RECOMMENDED_TRX - 1)
    assert severity is Severity.WARNING and "holds only 9.999999 TRX" in text
    [(severity, text)] = findings(token_balance=5, pending_withdrawals=6)
    assert severity is Severity.WARNING and "below the 6 units of pending withdrawals" in text


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_repeats_are_written_once_then_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger = logging.getLogger("bridge.test-repeats")
    logger.addFilter(CollapseRepeats(every=60, clock=clock))
    with caplog.at_level(logging.INFO, logger="bridge.test-repeats"):
        for second in range(180):  # a failing pass every second for three minutes
            clock.now = float(second)
            logger.warning("withdrawal %d: broadcast failed: %s", 7, "BANDWITH_ERROR")
            if second == 30:
                logger.warning("another problem")
                logger.info("progress is never collapsed")
                logger.info("progress is never collapsed")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "withdrawal 7: broadcast failed: BANDWITH_ERROR",
        "another problem",
        "progress is never collapsed",
        "progress is never collapsed",
        "withdrawal 7: broadcast failed: BANDWITH_ERROR (repeated 60 times in 60 s)",
        "withdrawal 7: broadcast failed: BANDWITH_ERROR (repeated 60 times in 60 s)",
    ]
