"""A libtorrent seeder with per-peer delivery accounting, an exposure gate and bans."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt

from client_sdk.torrent.access import Clock, IpAccess, PeerClasses, UnknownPeerPolicy
from client_sdk.torrent.alerts import AlertPump
from client_sdk.torrent.gate import Endpoint, ExposureGate, gated_session_settings
from client_sdk.torrent.nodelay import CONNECTION_ALERTS as _CONNECTION_ALERTS
from client_sdk.torrent.nodelay import NoDelay
from client_sdk.torrent.peers import PeerKey, key_from_alert
from client_sdk.torrent.session import DEFAULT_PIECE_SIZE, Geometry, info_hash_hex, make_session

# on_delivered(peer, info_hash, piece, nbytes): a block was handed to the peer's connection.
DeliveredHook = Callable[[PeerKey, str, int, int], None]


@dataclass(frozen=True)
class PeerStats:
    peer: PeerKey
    info_hash: str
    delivered: int
    paid: int
    throttled: bool
    banned: bool


class Seeder:
    """Seeds torrents from one session bound to `ip:port`.

    With `gating` on, peers handed to `admit()` (or first seen in `credit()`) get their own
    peer class and are throttled by the `ExposureGate`; unknown peers are served or blocked
    according to `unknown_peers`. With `gating` off it is a plain seeder that still counts.

    With `choke_unknown`, served unknown peers share `unknown_slots` unchoke slots that
    libtorrent's own choker rotates round robin every `unchoke_interval` seconds; gated peers
    are outside those slots.
    """

    def __init__(
        self,
        ip: str,
        port: int = 0,
        *,
        gating: bool = False,
        window: int = DEFAULT_PIECE_SIZE,
        inflight: int = DEFAULT_PIECE_SIZE,
        unknown_peers: UnknownPeerPolicy = UnknownPeerPolicy.SERVE,
        on_delivered: DeliveredHook | None = None,
        clock: Clock = time.monotonic,
        upload_limit: int = 0,
        settings: Mapping[str, Any] | None = None,
        pump_interval: float = 0.005,
        choke_unknown: bool = False,
        unknown_slots: int = 1,
        unchoke_interval: int = 15,
    ) -> None:
        # Gated seeders cap each peer's accepted requests and send buffer at `inflight` so that
        # partially delivered pieces stay within the gate's in-flight allowance (see gate.py).
        extra = {**gated_session_settings(inflight), **(settings or {})} if gating else settings
        if choke_unknown:
            extra = {
                **(extra or {}),
                "seed_choking_algorithm": int(lt.seed_choking_algorithm_t.round_robin),
                "unchoke_slots_limit": unknown_slots,
                "unchoke_interval": max(1, unchoke_interval),
                "optimistic_unchoke_interval": max(1, unchoke_interval),
            }
        self._unknown_slots = unknown_slots
        self.session = make_session(ip, port, upload_limit=upload_limit, extra=extra)
        self.ip = ip
        self.gating = gating
        self._hook = on_delivered
        self._lock = threading.Lock()
        self._handles: dict[str, lt.torrent_handle] = {}
        self._geometry: dict[str, Geometry] = {}
        self._delivered: dict[tuple[str, PeerKey], int] = {}
        self._refused: dict[str, int] = {}  # IP -> connections the IP filter turned away
        policy = unknown_peers if gating else UnknownPeerPolicy.SERVE
        self.access = IpAccess(self.session, policy=policy, clock=clock)
        self.classes = PeerClasses(self.session, choke_unknown=choke_unknown)
        self.gate = ExposureGate(
            self.classes, self._sent_probe, window=window, inflight=inflight, clock=clock
        )
        self._nodelay = NoDelay(ip)
        self._nodelay.scan()  # the listening socket: accepted ones inherit the option
        self._new_connections = False
        self._pump = AlertPump(
            self.session, self._on_alerts, self._on_tick, interval=pump_interval, name="seeder"
        )
        self._pump.start()

    @property
    def port(self) -> int:
        return int(self.session.listen_port())

    @property
    def endpoint(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def add(self, ti: lt.torrent_info, save_path: Path, *, seed_mode: bool = False) -> str:
        """Seed `ti` from files under `save_path`; returns the v1 info hash (hex)."""
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(ti)
        params.save_path = str(save_path)
        # Keep the default flags: without apply_ip_filter, bans would not bind this torrent.
        params.flags |= lt.torrent_flags.apply_ip_filter
        params.flags &= ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed
        if seed_mode:
            params.flags |= lt.torrent_flags.seed_mode
        handle = self.session.add_torrent(params)
        ih = info_hash_hex(handle)
        geometry = Geometry.of(params.ti)
        self.gate.add_torrent(ih, geometry)
        with self._lock:
            self._handles[ih] = handle
            self._geometry[ih] = geometry
        return ih

    def set_unknown_slots(self, slots: int) -> None:
        """Unchoke slots for peers outside the gate (see `choke_unknown`)."""
        if slots != self._unknown_slots:
            self._unknown_slots = slots
            self.session.apply_settings({"unchoke_slots_limit": slots})

    def connect(self, info_hash: str, peers: Sequence[tuple[str, int]]) -> None:
        handle = self._handle(info_hash)
        for ip, port in peers:
            handle.connect_peer((ip, int(port)))

    def peer_ips(self, info_hash: str) -> set[str]:
        """The IPs connected to `info_hash` now."""
        return {str(p.ip[0]) for p in self._handle(info_hash).get_peer_info()}

    def wait_seeding(self, info_hash: str, timeout: float = 10.0) -> None:
        handle = self._handle(info_hash)
        deadline = time.monotonic() + timeout
        while not handle.status().is_seeding:
            st = handle.status()
            if st.errc.value() != 0:
                raise RuntimeError(f"torrent {info_hash} failed: {st.errc.message()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"torrent {info_hash} not seeding after {timeout}s: {st.state}")
            time.sleep(0.01)

    def handle(self, info_hash: str) -> lt.torrent_handle:
        return self._handle(info_hash)

    def admit(self, ip: str) -> None:
        """Make `ip` a gated payer. If it is already connected without its peer class, drop
        the connection so that it comes back under the class."""
        if not self.gating:
            raise RuntimeError("admit() needs a seeder built with gating=True")
        if self.gate.is_gated(ip):
            return
        connected = self._connected(ip)
        self.gate.gate(ip)
        self.access.allow(ip)
        if connected:
            self.access.kick(ip)

    def credit(self, peer: PeerKey | str, info_hash: str, paid_bytes: int) -> None:
        """Cumulative bytes `peer` has paid for on `info_hash` (set by the payment layer)."""
        ip = peer.ip if isinstance(peer, PeerKey) else peer
        if self.gating and not self.gate.is_gated(ip):
            self.admit(ip)
        self.gate.credit(ip, info_hash, paid_bytes)

    def ban(self, peer: PeerKey | str, seconds: float) -> float:
        ip = peer.ip if isinstance(peer, PeerKey) else peer
        return self.access.ban(ip, seconds)

    def delivered(self, peer: PeerKey | str, info_hash: str) -> int:
        ip = peer.ip if isinstance(peer, PeerKey) else peer
        with self._lock:
            items = list(self._delivered.items())
        return sum(n for (ih, k), n in items if ih == info_hash and k.ip == ip)

    def refused(self, ip: str) -> int:
        """Connections from `ip` that the IP filter (a ban, or an unknown peer) turned away."""
        with self._lock:
            return self._refused.get(ip, 0)

    def stats(self) -> list[PeerStats]:
        gate = {(s.info_hash, s.ip): s for s in self.gate.stats()}
        with self._lock:
            items = sorted(self._delivered.items())
        out = []
        for (ih, key), n in items:
            g = gate.get((ih, key.ip))
            out.append(
                PeerStats(
                    peer=key,
                    info_hash=ih,
                    delivered=n,
                    paid=g.paid if g else 0,
                    throttled=g.throttled if g else False,
                    banned=self.access.is_banned(key.ip),
                )
            )
        return out

    @property
    def pump_errors(self) -> list[BaseException]:
        return self._pump.errors

    def close(self) -> None:
        self._pump.stop()
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
        for h in handles:
            self.session.remove_torrent(h)
        self.session.pause()

    def __enter__(self) -> Seeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handle(self, info_hash: str) -> lt.torrent_handle:
        with self._lock:
            try:
                return self._handles[info_hash]
            except KeyError:
                raise KeyError(f"not seeding {info_hash}") from None

    def _connected(self, ip: str) -> bool:
        with self._lock:
            handles = list(self._handles.values())
        return any(str(p.ip[0]) == ip for h in handles for p in h.get_peer_info())

    def _sent_probe(self, info_hash: str) -> dict[Endpoint, int]:
        with self._lock:
            handle = self._handles.get(info_hash)
        if handle is None:
            return {}
        return {(str(p.ip[0]), int(p.ip[1])): int(p.total_upload) for p in handle.get_peer_info()}

    def _on_alerts(self, batch: Sequence[lt.alert]) -> None:
        for a in batch:
            if isinstance(a, lt.block_uploaded_alert):
                # Copy everything now: the alert object is freed at the next pop_alerts().
                key = key_from_alert(a)
                endpoint = (key.ip, int(a.ip[1]))
                ih = info_hash_hex(a.handle)
                piece, block = int(a.piece_index), int(a.block_index)
                nbytes = self._geometry[ih].block_length(piece, block)
                with self._lock:
                    self._delivered[(ih, key)] = self._delivered.get((ih, key), 0) + nbytes
                self.gate.on_delivered(key.ip, ih, piece, block, nbytes, key.peer_id, endpoint)
                if self._hook is not None:
                    self._hook(key, ih, piece, nbytes)
            elif isinstance(a, _CONNECTION_ALERTS):
                self._new_connections = True
            elif isinstance(a, lt.peer_blocked_alert):
                ip = str(a.ip[0])
                with self._lock:
                    self._refused[ip] = self._refused.get(ip, 0) + 1

    def _on_tick(self) -> None:
        if self._new_connections:
            self._new_connections = False
            self._nodelay.scan()
        self.access.expire()
        self.gate.tick()
