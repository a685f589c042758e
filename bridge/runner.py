"""BridgeRunner: the deposit watcher and the withdrawal worker, one pass or in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import BridgeConfig
from bridge.payout import Limits, PayoutResult, PayoutWorker
from bridge.reconcile import Reconciliation, reconcile
from bridge.store import BridgeStore
from bridge.treasury import LedgerError, TreasuryClient
from bridge.tron import TronError, TronGateway
from bridge.watcher import DepositWatcher, ScanResult

log = logging.getLogger("bridge.runner")


@dataclass(frozen=True, slots=True)
class PassResult:
    scan: ScanResult
    payout: PayoutResult


def make_gateway(config: BridgeConfig) -> TronGateway:
    api_key = config.api_key.get_secret_value() if config.api_key else None
    return TronGateway(config.endpoint, api_key, config.network, timeout=config.node_timeout)


class BridgeRunner:
    """Owns the gateway, the ledger client and the state store for one bridge.

    `run_once()` does one watcher pass then one payout pass; `start()` repeats that every
    `poll_interval` seconds in a daemon thread until `stop()`. Errors of one pass (node or ledger
    down) are reported to `on_error` and the next pass retries.
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        on_pass: Callable[[PassResult], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.config = config
        token_id = config.require_token()
        key = config.load_hot_key()
        self.address = key.address
        self.gateway = make_gateway(config)
        self.treasury = TreasuryClient(config.ledger, config.treasury_secret())
        self.store = BridgeStore(config.db)
        start = config.start_block
        if start is None and config.network == "devnode":
            start = 0
        self.watcher = DepositWatcher(
            self.gateway,
            self.treasury,
            self.store,
            bridge_address=self.address,
            token_id=token_id,
            start_block=start,
            batch=config.scan_batch,
        )
        self.worker = PayoutWorker(
            self.gateway,
            self.treasury,
            self.store,
            key,
            token_id=token_id,
            limits=Limits(config.max_withdrawal, config.daily_limit),
            tx_lifetime_ms=config.tx_lifetime_ms,
        )
        self._on_pass, self._on_error = on_pass, on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BridgeRunner(address={self.address}, token_id={self.config.token_id})"

    def run_once(self) -> PassResult:
        with self._lock:
            return PassResult(self.watcher.scan(), self.worker.run_once())

    def reconcile(self) -> Reconciliation:
        with self._lock:
            return reconcile(
                self.gateway,
                self.treasury,
                self.store,
                bridge_address=self.address,
                token_id=self.config.require_token(),
                start_block=self.watcher.start_block,
            )

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except (TronError, LedgerError) as exc:
                log.warning("bridge pass failed: %s", exc)
                if self._on_error:
                    self._on_error(exc)
            else:
                if self._on_pass:
                    self._on_pass(result)
            self._stop.wait(self.config.poll_interval)

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
        self.treasury.close()
        self.gateway.close()
        self.store.close()

    def __enter__(self) -> BridgeRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
