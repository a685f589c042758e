"""Prometheus metrics of a running bridge: build and process, scan lag, credits, payouts by state,
hot balances.

Updated after every pass (the hot address's balances too: two more calls to the node a pass).
Served by `btt-bridge run --metrics HOST:PORT`.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from bridge.schema import PayoutStatus
from bridge.store import BridgeStore
from bridge.tron import TronGateway
from bridge.watcher import ScanResult

VERSION = "0.1.0"


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes...
        PlatformCollector(registry=r)  # python_info
        Info("btt_bridge_build", "Version of the running bridge", registry=r).info(
            {"version": VERSION}
        )
        self.scan_lag = Gauge(
            "btt_bridge_scan_lag_blocks",
            "Solidified blocks the scanner has not reached",
            registry=r,
        )
        self.deposits = Counter(
            "btt_bridge_deposits_credited", "Deposits credited on the ledger", registry=r
        )
        self.deposited = Counter(
            "btt_bridge_deposited_units", "Base units credited from deposits", registry=r
        )
        self.payouts = Gauge(
            "btt_bridge_payouts", "Payouts this bridge knows, by state", ["state"], registry=r
        )
        self.actions = Counter(
            "btt_bridge_payout_actions",
            "What payout passes did: broadcast, replaced, paid, failed, held",
            ["action"],
            registry=r,
        )
        self.errors = Counter("btt_bridge_pass_errors", "Passes that failed", registry=r)
        self.hot_trx = Gauge("btt_bridge_hot_trx_sun", "TRX of the hot address (sun)", registry=r)
        self.hot_token = Gauge(
            "btt_bridge_hot_token_units",
            "BTT of the hot address (base units), solidified",
            registry=r,
        )

    def after_pass(
        self,
        scan: ScanResult,
        actions: dict[str, int],
        *,
        store: BridgeStore,
        gateway: TronGateway,
        address: str,
        token_id: str,
    ) -> None:
        self.deposits.inc(len(scan.credited))
        self.deposited.inc(sum(amount for *_, amount in scan.credited))
        for action, count in actions.items():
            self.actions.labels(action).inc(count)
        cursor = store.cursor()
        solid = gateway.solid_head().number
        self.scan_lag.set(max(0, solid + 1 - cursor) if cursor is not None else solid + 1)
        counts = store.payout_counts()
        for state in PayoutStatus:
            self.payouts.labels(state.value).set(counts.get(state, 0))
        self.hot_trx.set(gateway.trx_balance(address))
        self.hot_token.set(gateway.token_balance(address, token_id))
