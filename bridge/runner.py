"""BridgeRunner: the deposit watcher and the withdrawal worker, one pass or in a thread."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import BridgeConfig
from bridge.decide import Limits
from bridge.lease import BridgeLease, LeaseHeld
from bridge.metrics import BridgeMetrics
from bridge.payout import LeaseLost, PayoutResult, PayoutWorker
from bridge.reconcile import Reconciliation, reconcile
from bridge.store import BridgeStore
from bridge.tron import TronError, TronGateway
from bridge.watcher import DepositWatcher, ScanResult
from client_sdk.ledger_client import LedgerError
from client_sdk.treasury_client import TreasuryClient
from core.status import WithdrawalStatus

log = logging.getLogger("bridge.runner")
# How far before a pending withdrawal's request a fresh database starts scanning for payout
# memos: the ledger's clock and the chain's block times may disagree by this much.
CLOCK_MARGIN_MS = 600_000


@dataclass(frozen=True, slots=True)
class PassResult:
    scan: ScanResult
    payout: PayoutResult


def make_gateway(config: BridgeConfig) -> TronGateway:
    return TronGateway(
        config.endpoint, config.api_key_secret(), config.network, timeout=config.node_timeout
    )


def make_treasury(config: BridgeConfig) -> TreasuryClient:
    return TreasuryClient(
        config.treasury_target(),
        config.treasury_secret(),
        ca_cert=config.ledger_ca_cert,
        client_cert=config.ledger_client_pair(),
    )


class RepeatedError:
    """A pass that fails the same way every second is reported once, then counted."""

    def __init__(self) -> None:
        self.message, self.count = "", 0

    def is_new(self, message: str) -> bool:
        if message == self.message:
            self.count += 1
            return False
        self.clear()
        self.message, self.count = message, 1
        return True

    def clear(self) -> None:
        if self.count > 1:
            log.warning("the last error repeated %d times: %s", self.count, self.message)
        self.message, self.count = "", 0


class BridgeRunner:
    """Owns the gateway, the ledger client and the state store for one bridge.

    `run_once()` takes (or renews) the ledger's bridge lease, then does one watcher pass and one
    payout pass; `start()` repeats that every `poll_interval` seconds in a daemon thread until
    `stop()`. Errors of one pass (node or ledger down, the lease held by another bridge) are
    reported to `on_error` (and logged once while they repeat); the next pass retries.
    `close()` releases the lease.
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        on_pass: Callable[[PassResult], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        self.config = config
        token_id = config.require_token()
        key = config.load_hot_key()
        self.address = key.address
        self.gateway = make_gateway(config)
        self.treasury = make_treasury(config)
        self.store = BridgeStore(config.db)
        self.lease = BridgeLease(self.treasury, config.lease_seconds)
        self.watcher = DepositWatcher(
            self.gateway,
            self.treasury,
            self.store,
            bridge_address=self.address,
            token_id=token_id,
            start_block=config.scan_start(),
            batch=config.scan_batch,
        )
        self.worker = PayoutWorker(
            self.gateway,
            self.treasury,
            self.store,
            key,
            token_id=token_id,
            holder=self.lease.holder,
            limits=Limits(config.max_withdrawal, config.daily_limit),
            tx_lifetime_ms=config.tx_lifetime_ms,
        )
        self._on_pass, self._on_error = on_pass, on_error
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BridgeRunner(address={self.address}, token_id={self.config.token_id})"

    def check_links(self) -> None:
        """Reach the node and the ledger (its Treasury, with this bridge's token) once, raising
        what stops them; a lease held by another bridge is no error here."""
        self.gateway.solid_head()
        with contextlib.suppress(LeaseHeld):  # the passes report it, once
            self.lease.ensure()

    def run_once(self) -> PassResult:
        with self._lock:
            # The node first: a bridge that cannot see the chain must not take the lease from
            # one that can.
            self.gateway.solid_head()
            self.lease.ensure()
            if self.store.cursor() is None:
                self.store.set_cursor(self._first_block())
            return PassResult(self.watcher.scan(), self.worker.run_once())

    def _first_block(self) -> int:
        """Where a fresh database starts scanning: the configured start (else the solid head),
        but early enough to see any payout already made for a pending withdrawal."""
        start = self.watcher.start_block
        if start is None:
            start = self.gateway.solid_head().number + 1
        pending = self.treasury.withdrawals(WithdrawalStatus.PENDING)
        if pending:
            oldest_ms = min(w.requested_at for w in pending) * 1000 - CLOCK_MARGIN_MS
            start = min(start, self.gateway.solid_block_at(oldest_ms))
        log.info("fresh bridge database: scanning from block %d", start)
        return start

    def reconcile(self) -> Reconciliation:
        with self._lock:
            return reconcile(
                self.gateway,
                self.treasury.audit,
                self.store,
                bridge_address=self.address,
                token_id=self.config.require_token(),
                start_block=self.watcher.start_block,
            )

    def run_forever(self) -> None:
        repeats = RepeatedError()
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except (TronError, LedgerError, LeaseHeld, LeaseLost) as exc:
                if self.metrics is not None:
                    self.metrics.errors.inc()
                if repeats.is_new(str(exc)):
                    log.warning("bridge pass failed: %s", exc)
                if self._on_error:
                    self._on_error(exc)
            else:
                repeats.clear()
                self._observe(result)
                if self._on_pass:
                    self._on_pass(result)
            self._stop.wait(self.config.poll_interval)
        repeats.clear()

    def _observe(self, result: PassResult) -> None:
        if self.metrics is None:
            return
        p = result.payout
        actions = {
            "broadcast": len(p.broadcast),
            "replaced": len(p.replaced),
            "paid": len(p.paid),
            "failed": len(p.failed),
            "held": len(p.held),
        }
        try:
            with self._lock:
                self.metrics.after_pass(
                    result.scan,
                    actions,
                    store=self.store,
                    gateway=self.gateway,
                    address=self.address,
                    token_id=self.config.require_token(),
                )
        except TronError as exc:  # the figures wait for the next pass
            log.info("metrics not updated: %s", exc)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("bridge runner already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="btt-bridge", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask `run_forever` to return after the current pass (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            self.lease.release()
        self.treasury.close()
        self.gateway.close()
        self.store.close()

    def __enter__(self) -> BridgeRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
