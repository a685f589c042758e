"""Exposure gate: stop serving a payer whose unpaid delivered data exceeds a credit window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from client_sdk.torrent.access import Clock, PeerClasses

# Bytes of payload actually written to sockets, per IP, for one torrent (cumulative).
SentProbe = Callable[[str], Mapping[str, int]]


@dataclass
class _Account:
    delivered: int = 0  # bytes queued to the peer (block_uploaded_alert fires at queue time)
    paid: int = 0  # cumulative bytes paid for, as reported by the payment layer
    sent: int = 0  # bytes that reached the socket, probed only while throttled
    peer_ids: set[str] = field(default_factory=set)

    def unpaid(self) -> int:
        return self.delivered - self.paid


@dataclass(frozen=True)
class GateStats:
    ip: str
    info_hash: str
    delivered: int
    paid: int
    sent: int
    throttled: bool
    peer_ids: frozenset[str]


class ExposureGate:
    """Per (info hash, IP) ledger of delivered vs paid bytes, enforced per IP.

    Throttle as soon as delivered - paid > window, counting blocks when libtorrent queues them
    (earliest signal). Release when paid catches up, or when the bytes that actually left the
    socket are within the window: a payer cannot pay for blocks still sitting in our send
    buffer, so waiting on the queued count alone could deadlock an honest payer.
    """

    def __init__(
        self,
        classes: PeerClasses,
        sent_probe: SentProbe,
        *,
        window: int,
        clock: Clock = time.monotonic,
    ) -> None:
        if window < 0:
            raise ValueError(f"credit window must be >= 0 bytes, got {window}")
        self.window = window
        self._classes = classes
        self._probe = sent_probe
        self._clock = clock
        self._lock = threading.RLock()
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._gated: set[str] = set()
        self._throttled: set[str] = set()
        self.throttle_events = 0

    def gate(self, ip: str) -> None:
        """Start enforcing `ip` (assigns its peer class; call before it connects)."""
        with self._lock:
            self._classes.assign(ip)
            self._gated.add(ip)
            self._enforce(ip)

    def ungate(self, ip: str) -> None:
        with self._lock:
            self._gated.discard(ip)
            self._throttled.discard(ip)
            self._classes.release(ip)

    def is_gated(self, ip: str) -> bool:
        with self._lock:
            return ip in self._gated

    def is_throttled(self, ip: str) -> bool:
        with self._lock:
            return ip in self._throttled

    def on_delivered(self, ip: str, info_hash: str, nbytes: int, peer_id: str | None) -> None:
        with self._lock:
            acct = self._account(ip, info_hash)
            acct.delivered += nbytes
            if peer_id:
                acct.peer_ids.add(peer_id)
            if ip in self._gated and ip not in self._throttled and acct.unpaid() > self.window:
                self._set_throttled(ip, True)

    def credit(self, ip: str, info_hash: str, paid_bytes: int) -> None:
        """Record cumulative bytes paid; a lower value than already seen is ignored."""
        if paid_bytes < 0:
            raise ValueError(f"paid bytes must be >= 0, got {paid_bytes}")
        with self._lock:
            acct = self._account(ip, info_hash)
            acct.paid = max(acct.paid, paid_bytes)
            if ip in self._throttled:
                self._try_release(ip, probe=True)

    def tick(self) -> None:
        with self._lock:
            for ip in list(self._throttled):
                self._try_release(ip, probe=True)

    def stats(self) -> list[GateStats]:
        with self._lock:
            return [
                GateStats(
                    ip=ip,
                    info_hash=ih,
                    delivered=a.delivered,
                    paid=a.paid,
                    sent=a.sent,
                    throttled=ip in self._throttled,
                    peer_ids=frozenset(a.peer_ids),
                )
                for (ih, ip), a in sorted(self._accounts.items())
            ]

    def account(self, ip: str, info_hash: str) -> GateStats | None:
        return next((s for s in self.stats() if s.ip == ip and s.info_hash == info_hash), None)

    def _account(self, ip: str, info_hash: str) -> _Account:
        return self._accounts.setdefault((info_hash, ip), _Account())

    def _accounts_of(self, ip: str) -> list[tuple[str, _Account]]:
        return [(ih, a) for (ih, aip), a in self._accounts.items() if aip == ip]

    def _enforce(self, ip: str) -> None:
        over = any(a.unpaid() > self.window for _, a in self._accounts_of(ip))
        self._set_throttled(ip, over)

    def _try_release(self, ip: str, *, probe: bool) -> None:
        blocked = False
        for ih, acct in self._accounts_of(ip):
            if acct.unpaid() <= self.window:
                continue
            if probe:
                acct.sent = max(acct.sent, min(acct.delivered, self._probe(ih).get(ip, 0)))
            if acct.sent - acct.paid > self.window:
                blocked = True
        if not blocked:
            self._set_throttled(ip, False)

    def _set_throttled(self, ip: str, on: bool) -> None:
        if on == (ip in self._throttled):
            return
        if on:
            self._throttled.add(ip)
            self.throttle_events += 1
        else:
            self._throttled.discard(ip)
        self._classes.set_upload_limit(ip, PeerClasses.THROTTLED_RATE if on else 0)
