"""A background thread that drains a session's alerts with low latency."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import libtorrent as lt

log = logging.getLogger(__name__)

AlertHandler = Callable[[Sequence[lt.alert]], None]
TickHandler = Callable[[], None]


class AlertPump:
    """Calls `on_alerts` with each batch and `on_tick` after every wake-up (at least every
    `interval` seconds). Handlers run on the pump thread and must copy alert fields before
    returning: libtorrent frees the alerts at the next `pop_alerts()`."""

    def __init__(
        self,
        session: lt.session,
        on_alerts: AlertHandler,
        on_tick: TickHandler | None = None,
        *,
        interval: float = 0.01,
        name: str = "lt-alerts",
    ) -> None:
        self._session = session
        self._on_alerts = on_alerts
        self._on_tick = on_tick
        self._wait_ms = max(1, int(interval * 1000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.errors: list[BaseException] = []
        self._rounds = 0
        self._rounds_cv = threading.Condition()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._session.wait_for_alert(self._wait_ms)
            batch = self._session.pop_alerts()
            try:
                if batch:
                    self._on_alerts(batch)
                if self._on_tick is not None:
                    self._on_tick()
            except Exception as exc:  # a hook bug must not kill accounting silently
                log.exception("alert handler failed")
                self.errors.append(exc)
            with self._rounds_cv:
                self._rounds += 1
                self._rounds_cv.notify_all()

    def barrier(self, timeout: float = 5.0) -> None:
        """Return once every alert posted before this call has been handled."""
        if threading.current_thread() is self._thread:
            return
        with self._rounds_cv:
            # The round in progress may have popped before our caller's alerts were posted.
            target = self._rounds + 2
            if not self._rounds_cv.wait_for(lambda: self._rounds >= target, timeout):
                raise TimeoutError("alert pump is not running")
