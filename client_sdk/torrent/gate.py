"""Exposure gate: stop serving a payer whose unpaid delivered data exceeds a credit window.

Terms, per (info hash, payer IP), in bytes:

- D  delivered: blocks libtorrent queued to the payer (`block_uploaded_alert` fires at queue time).
- Dc complete: bytes of pieces whose every block has been queued to the payer.
- S  sent: payload that reached the payer's sockets (`peer_info.total_upload`), probed.
- Sc sent-complete: bytes of pieces whose every block is within S (blocks leave in queue order).
- P  paid: cumulative bytes the payment layer has credited.
- W  window: unpaid completely delivered data allowed (the whitepaper's one piece by default).
- F  in-flight allowance: unpaid data of pieces not yet completely delivered (default one piece).

Rules (evaluated after every alert batch and on every credit and tick):

- throttle when Dc - P > W (more than W of whole pieces unpaid) or D - P > W + F;
- release when both are back within bounds (the payer paid), or when the payer holds no whole
  unpaid piece and at most W + F of partial data (Sc <= P and S - P <= W + F): whatever we still
  hold back is then what it needs before it can pay again (blocks of two pieces interleave in the
  send buffer, so this happens), and keeping it throttled would deadlock an honest payer.
  Requiring Sc <= P stops a payer that never completes a piece from draining us repeatedly past
  W + F.

Bound. Whenever the gate has evaluated and the payer is not throttled, D - P <= W + F and
Dc - P <= W; as S <= D, the payer holds at most W + F unpaid bytes then, and a drain release only
happens with Sc <= P and S - P <= W + F. Throttling is a 1 B/s rate limit on the payer's peer class,
and what already sits in the send buffer may still go out on socket quota granted earlier. So at
any moment the unpaid bytes the payer has received are

    S - P <= W + F + send_buffer_watermark + BLOCK_SIZE + L

where L is what libtorrent sent between queueing the block that crossed a limit and the throttle
landing (one alert round). With `gated_session_settings(F)` the watermark is F/2, so the
defaults (W = F = one 256 KiB piece) give 2.5 pieces + one block + L, and at most W of it is
whole pieces the payer could already verify (Sc - P <= W when no throttle is pending). L is
not fixed by configuration: it is ~0 on a link slower than the alert thread (the cut-off test
runs at 2 MiB/s and asserts the bound with L = 0), and on unthrottled loopback at ~60-90 MiB/s
it measured up to a few pieces (`peak_unpaid` in bench/swarm.py) when the payer's process stalls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from client_sdk.torrent.access import Clock, PeerClasses
from client_sdk.torrent.session import BLOCK_SIZE, DEFAULT_PIECE_SIZE, Geometry

Endpoint = tuple[str, int]
# Cumulative payload bytes written to each connection (remote endpoint) of one torrent.
SentProbe = Callable[[str], Mapping[Endpoint, int]]


def gated_session_settings(inflight: int = DEFAULT_PIECE_SIZE) -> dict[str, Any]:
    """libtorrent settings that keep a seeder's per-peer in-flight data within `inflight`.

    Requests beyond the cap are rejected (the fast extension makes the peer re-request later),
    and the send buffer stays small so queued-but-unsent data cannot hide a whole piece.
    """
    if inflight < BLOCK_SIZE:
        raise ValueError(f"in-flight allowance must be >= one block, got {inflight}")
    return {
        "max_allowed_in_request_queue": inflight // BLOCK_SIZE,
        "send_buffer_watermark": max(BLOCK_SIZE, inflight // 2),
        "send_buffer_low_watermark": BLOCK_SIZE,
        "send_buffer_watermark_factor": 50,
        # Rate-limit quota (and so a throttle's release) is handed out on the session tick;
        # the default 500 ms turns every release into a half-second stall.
        "tick_interval": 2,
    }


@dataclass
class _Pieces:
    """Blocks seen per piece until the piece is whole; counts whole-piece bytes."""

    partial: dict[int, int] = field(default_factory=dict)  # piece -> bitmask of blocks
    complete: int = 0

    def add(self, geo: Geometry, piece: int, block: int) -> None:
        mask = self.partial.get(piece, 0) | (1 << block)
        if mask == (1 << geo.blocks_in(piece)) - 1:
            self.partial.pop(piece, None)
            self.complete += geo.piece_size(piece)
        else:
            self.partial[piece] = mask


@dataclass
class _Conn:
    queued: deque[tuple[int, int, int]] = field(default_factory=deque)  # (piece, block, bytes)
    head_sent: int = 0  # bytes of queued[0] already written
    seen: int = 0  # total_upload consumed so far


@dataclass
class _Account:
    delivered: int = 0
    paid: int = 0
    sent: int = 0
    peak_unpaid: int = 0  # max D - P seen when the gate evaluated
    peak_unpaid_complete: int = 0  # max Dc - P seen when the gate evaluated
    queued_pieces: _Pieces = field(default_factory=_Pieces)
    sent_pieces: _Pieces = field(default_factory=_Pieces)
    conns: dict[Endpoint, _Conn] = field(default_factory=dict)
    peer_ids: set[str] = field(default_factory=set)

    @property
    def complete(self) -> int:
        return self.queued_pieces.complete

    @property
    def sent_complete(self) -> int:
        return self.sent_pieces.complete

    def unpaid(self) -> int:
        return self.delivered - self.paid


@dataclass(frozen=True)
class GateStats:
    ip: str
    info_hash: str
    delivered: int
    paid: int
    sent: int
    complete: int
    sent_complete: int
    peak_unpaid: int
    peak_unpaid_complete: int
    throttled: bool
    peer_ids: frozenset[str]

    @property
    def unpaid_complete(self) -> int:
        return max(0, self.complete - self.paid)


class ExposureGate:
    """Per (info hash, IP) ledger of delivered vs paid bytes, enforced per IP (see module doc)."""

    def __init__(
        self,
        classes: PeerClasses,
        sent_probe: SentProbe,
        *,
        window: int,
        inflight: int = DEFAULT_PIECE_SIZE,
        clock: Clock = time.monotonic,
    ) -> None:
        if window < 0:
            raise ValueError(f"credit window must be >= 0 bytes, got {window}")
        if inflight < BLOCK_SIZE:
            raise ValueError(f"in-flight allowance must be >= {BLOCK_SIZE} bytes, got {inflight}")
        self.window = window
        self.inflight = inflight
        self._classes = classes
        self._probe = sent_probe
        self._clock = clock
        self._lock = threading.RLock()
        self._geometry: dict[str, Geometry] = {}
        self._accounts: dict[tuple[str, str], _Account] = {}
        self._gated: set[str] = set()
        self._throttled: set[str] = set()
        self.throttle_events = 0
        self.drain_releases = 0

    def add_torrent(self, info_hash: str, geometry: Geometry) -> None:
        with self._lock:
            self._geometry[info_hash] = geometry

    def gate(self, ip: str) -> None:
        """Start enforcing `ip` (assigns its peer class; call before it connects)."""
        with self._lock:
            self._classes.assign(ip)
            self._gated.add(ip)
            self._set_throttled(ip, any(self._over(a) for _, a in self._accounts_of(ip)))

    def is_gated(self, ip: str) -> bool:
        with self._lock:
            return ip in self._gated

    def is_throttled(self, ip: str) -> bool:
        with self._lock:
            return ip in self._throttled

    def on_delivered(
        self,
        ip: str,
        info_hash: str,
        piece: int,
        block: int,
        nbytes: int,
        peer_id: str | None,
        endpoint: Endpoint | None = None,
    ) -> None:
        """A block was queued to `ip`; call in queue order per connection."""
        with self._lock:
            acct = self._account(ip, info_hash)
            acct.delivered += nbytes
            if peer_id:
                acct.peer_ids.add(peer_id)
            if ip not in self._gated:
                return
            acct.queued_pieces.add(self._geometry[info_hash], piece, block)
            if endpoint is not None:
                acct.conns.setdefault(endpoint, _Conn()).queued.append((piece, block, nbytes))
            acct.peak_unpaid = max(acct.peak_unpaid, acct.unpaid())
            acct.peak_unpaid_complete = max(acct.peak_unpaid_complete, acct.complete - acct.paid)
            if ip not in self._throttled and self._over(acct):
                self._set_throttled(ip, True)

    def credit(self, ip: str, info_hash: str, paid_bytes: int) -> None:
        """Record cumulative bytes paid; a lower value than already seen is ignored."""
        if paid_bytes < 0:
            raise ValueError(f"paid bytes must be >= 0, got {paid_bytes}")
        with self._lock:
            acct = self._account(ip, info_hash)
            acct.paid = max(acct.paid, paid_bytes)
            if ip in self._throttled:
                self._try_release(ip)

    def tick(self) -> None:
        """Advance sent counters (keeps per-connection queues short) and retry releases."""
        with self._lock:
            for ih in {ih for ih, ip in self._accounts if ip in self._gated}:
                self._advance(ih)
            for ip in list(self._throttled):
                self._try_release(ip, probed=True)

    def stats(self) -> list[GateStats]:
        with self._lock:
            return [
                GateStats(
                    ip=ip,
                    info_hash=ih,
                    delivered=a.delivered,
                    paid=a.paid,
                    sent=a.sent,
                    complete=a.complete,
                    sent_complete=a.sent_complete,
                    peak_unpaid=a.peak_unpaid,
                    peak_unpaid_complete=a.peak_unpaid_complete,
                    throttled=ip in self._throttled,
                    peer_ids=frozenset(a.peer_ids),
                )
                for (ih, ip), a in sorted(self._accounts.items())
            ]

    def paid(self, ip: str, info_hash: str) -> int:
        """Bytes credited to `ip` on `info_hash` (0 when unknown); cheap, for sampling."""
        with self._lock:
            acct = self._accounts.get((info_hash, ip))
            return 0 if acct is None else acct.paid

    def account(self, ip: str, info_hash: str) -> GateStats | None:
        return next((s for s in self.stats() if s.ip == ip and s.info_hash == info_hash), None)

    def _account(self, ip: str, info_hash: str) -> _Account:
        return self._accounts.setdefault((info_hash, ip), _Account())

    def _accounts_of(self, ip: str) -> list[tuple[str, _Account]]:
        return [(ih, a) for (ih, aip), a in self._accounts.items() if aip == ip]

    def _over(self, acct: _Account) -> bool:
        return (
            acct.complete - acct.paid > self.window or acct.unpaid() > self.window + self.inflight
        )

    def _drainable(self, acct: _Account) -> bool:
        return (
            acct.sent_complete <= acct.paid and acct.sent - acct.paid <= self.window + self.inflight
        )

    def _try_release(self, ip: str, *, probed: bool = False) -> None:
        over = [(ih, a) for ih, a in self._accounts_of(ip) if self._over(a)]
        if over and not probed:
            for ih, _ in over:
                self._advance(ih)
        if all(self._drainable(a) for _, a in over):
            if over:
                self.drain_releases += 1
            self._set_throttled(ip, False)

    def _advance(self, info_hash: str) -> None:
        """Move blocks the probe reports as written from the queued to the sent books."""
        sent_by_conn = self._probe(info_hash)
        geo = self._geometry.get(info_hash)
        if geo is None:
            return
        for (ih, ip), acct in self._accounts.items():
            if ih != info_hash or ip not in self._gated:
                continue
            for ep, conn in acct.conns.items():
                total = sent_by_conn.get(ep)
                if total is None or total <= conn.seen:
                    continue
                budget = total - conn.seen + conn.head_sent
                conn.seen = total
                while conn.queued and budget >= conn.queued[0][2]:
                    piece, block, nbytes = conn.queued.popleft()
                    budget -= nbytes
                    acct.sent_pieces.add(geo, piece, block)
                conn.head_sent = budget if conn.queued else 0
            acct.sent = sum(c.seen for c in acct.conns.values())

    def _set_throttled(self, ip: str, on: bool) -> None:
        if on == (ip in self._throttled):
            return
        if on:
            self._throttled.add(ip)
            self.throttle_events += 1
        else:
            self._throttled.discard(ip)
        self._classes.set_upload_limit(ip, PeerClasses.THROTTLED_RATE if on else 0)
