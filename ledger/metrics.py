"""Prometheus metrics of a running ledger for operators, beside the RPC metrics of core.rpc:
build and process, and the books (balances, escrow, pending withdrawals, audit balanced), the
event-stream tip and the live subscribers.

The books come from the audit (row sums and the journal's running totals, no journal scan),
read when Prometheus scrapes, at most once per `max_age` seconds; the tip and the subscribers
are what the event hub holds in memory. Nothing is computed between scrapes.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.rpc.servicer import VERSION
from ledger.service import AuditReport, LedgerService

log = logging.getLogger(__name__)


class Hub(Protocol):
    cursor: int

    @property
    def streams(self) -> int: ...


@dataclass
class _Books:
    report: AuditReport | None = None
    read_at: float = 0.0  # monotonic
    failed: bool = False


class LedgerCollector(Collector):
    """The books, the event-stream tip and the subscribers, read at scrape time."""

    def __init__(self, service: LedgerService, hub: Hub, *, max_age: float = 10.0) -> None:
        self.service = service
        self.hub = hub
        self.max_age = max_age
        self._books = _Books()
        self._lock = threading.Lock()

    def _read_books(self) -> _Books:
        with self._lock:  # scrapes at once read the database once
            books = self._books
            if books.report is None or time.monotonic() - books.read_at >= self.max_age:
                try:
                    books = _Books(self.service.audit(), time.monotonic())
                except Exception as exc:  # the database is away: say so, keep the last values
                    log.warning("metrics could not read the books: %s", exc)
                    books = _Books(books.report, books.read_at, failed=True)
                self._books = books
            return books

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "btt_ledger_event_stream_tip",
            "Position of the newest event this process has read from the event stream",
            value=self.hub.cursor,
        )
        yield GaugeMetricFamily(
            "btt_ledger_subscribers", "Open Subscribe streams", value=self.hub.streams
        )
        books = self._read_books()
        yield GaugeMetricFamily(
            "btt_ledger_books_up",
            "1 when the last reading of the books succeeded",
            value=0 if books.failed else 1,
        )
        report = books.report
        if report is None:
            return
        yield GaugeMetricFamily(
            "btt_ledger_books_age_seconds",
            "Seconds since the books below were read",
            value=time.monotonic() - books.read_at,
        )
        t = report.totals
        for name, help_text, value in (
            ("account_balances", "Sum of account balances (units)", t.account_balances),
            ("channel_escrow", "Units held in channels", t.channel_escrow),
            (
                "pending_withdrawals",
                "Units of requested, unpaid withdrawals",
                t.pending_withdrawals,
            ),
            ("deposits_credited", "Units ever credited from chain deposits", t.deposits_credited),
            ("withdrawals_paid", "Units ever paid out on chain", t.withdrawals_paid),
            ("liabilities", "Balances + escrow + pending withdrawals (units)", report.liabilities),
            ("journal_entries", "Rows in the journal", t.journal_entries),
            (
                "journal_imbalance",
                "Journal totals minus row sums (0 when sound)",
                report.journal_imbalance,
            ),
            ("audit_balanced", "1 when the books balance", int(report.balanced)),
        ):
            yield GaugeMetricFamily(f"btt_ledger_{name}", help_text, value=value)


def register(
    registry: CollectorRegistry, service: LedgerService, hub: Hub, *, books_max_age: float = 10.0
) -> LedgerCollector:
    """Build info, process metrics and the ledger's own gauges on `registry`."""
    Info("btt_build", "Version of the running program", registry=registry).info(
        {"program": "btt-ledger", "version": VERSION, "python": platform.python_version()}
    )
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_...
    PlatformCollector(registry=registry)  # python_info
    GCCollector(registry=registry)  # python_gc_*
    collector = LedgerCollector(service, hub, max_age=books_max_age)
    registry.register(collector)
    return collector
