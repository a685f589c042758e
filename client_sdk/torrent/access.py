"""Session-wide IP admission (bans, allow lists) and per-peer classes for throttling."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from enum import StrEnum

import libtorrent as lt

Clock = Callable[[], float]

_BLOCKED = 1
_ALL_V4 = ("0.0.0.0", "255.255.255.255")
_ALL_V6 = ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
# libtorrent's default peer-class filter puts these ranges in the `local` class instead of
# `global` (ignore_limits_on_local_network); replacing the filter must keep that.
_LOCAL_V4 = (
    ("10.0.0.0", "10.255.255.255"),
    ("172.16.0.0", "172.31.255.255"),
    ("192.168.0.0", "192.168.255.255"),
    ("169.254.0.0", "169.254.255.255"),
    ("127.0.0.0", "127.255.255.255"),
)


class UnknownPeerPolicy(StrEnum):
    SERVE = "serve"
    BLOCK = "block"


class LegacyPeers(StrEnum):
    """How a paid seeder treats peers that never bid (plain BitTorrent clients)."""

    SERVE = "serve"
    """Unchoked in the optimistic slot (round robin) and in every paid slot left unsold."""
    OPTIMISTIC = "optimistic"
    """Unchoked in the optimistic slot only."""
    BLOCK = "block"
    """Not let in at all."""


class IpAccess:
    """Owns the session's IP filter: timed bans, plus an allow list when unknown IPs are
    blocked. Every change rebuilds and installs the whole filter; libtorrent disconnects
    connected peers that the new filter blocks (for torrents added with `apply_ip_filter`)."""

    def __init__(
        self,
        session: lt.session,
        *,
        policy: UnknownPeerPolicy = UnknownPeerPolicy.SERVE,
        clock: Clock = time.monotonic,
    ) -> None:
        self._session = session
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._allowed: set[str] = set()
        self._banned: dict[str, float] = {}
        self._install()

    @property
    def policy(self) -> UnknownPeerPolicy:
        return self._policy

    def allow(self, ip: str) -> None:
        _check_ip(ip)
        with self._lock:
            if ip in self._allowed:
                return
            self._allowed.add(ip)
            self._install()

    def ban(self, ip: str, seconds: float) -> float:
        """Block `ip` for `seconds` (extends, never shortens, a running ban); returns expiry."""
        _check_ip(ip)
        if seconds <= 0:
            raise ValueError(f"ban period must be positive, got {seconds}")
        with self._lock:
            until = max(self._banned.get(ip, 0.0), self._clock() + seconds)
            self._banned[ip] = until
            self._install()
            return until

    def banned_until(self, ip: str) -> float | None:
        with self._lock:
            until = self._banned.get(ip)
            return until if until is not None and until > self._clock() else None

    def is_banned(self, ip: str) -> bool:
        return self.banned_until(ip) is not None

    def expire(self) -> list[str]:
        """Lift bans whose time is up; returns the IPs released."""
        now = self._clock()
        with self._lock:
            done = [ip for ip, until in self._banned.items() if until <= now]
            for ip in done:
                del self._banned[ip]
            if done:
                self._install()
            return done

    def kick(self, ip: str) -> None:
        """Drop current connections from `ip` without banning it (it may reconnect)."""
        _check_ip(ip)
        with self._lock:
            self._session.set_ip_filter(self._build(extra_block=ip))
            self._install()

    def _build(self, extra_block: str | None = None) -> lt.ip_filter:
        f = lt.ip_filter()
        if self._policy is UnknownPeerPolicy.BLOCK:
            f.add_rule(*_ALL_V4, _BLOCKED)
            f.add_rule(*_ALL_V6, _BLOCKED)
            for ip in self._allowed:
                f.add_rule(ip, ip, 0)
        for ip in self._banned:
            f.add_rule(ip, ip, _BLOCKED)
        if extra_block is not None:
            f.add_rule(extra_block, extra_block, _BLOCKED)
        return f

    def _install(self) -> None:
        self._session.set_ip_filter(self._build())


class PeerClassesFull(RuntimeError):
    pass


class PeerClasses:
    """One libtorrent peer class per gated IP, so each can be throttled on its own.

    libtorrent assigns classes when a connection starts, so `assign` must run before the peer
    connects (or the peer must be kicked and reconnect). The class filter is a 32-bit mask, so
    at most ~29 IPs can hold their own class at once.

    With `choke_unknown`, peers without a class of their own are left to libtorrent's choker
    (its unchoke slots, round robin for a seed), LAN addresses included (libtorrent's `local`
    class would exempt them), while classed peers are exempt from it: the gate alone holds them.
    """

    THROTTLED_RATE = 1  # bytes/s: holds the send buffer without closing the connection

    def __init__(self, session: lt.session, *, choke_unknown: bool = False) -> None:
        self._session = session
        self._choke_unknown = choke_unknown
        self._lock = threading.Lock()
        self._by_ip: dict[str, int] = {}
        if choke_unknown:
            with self._lock:
                self._install()

    def assign(self, ip: str) -> int:
        _check_ip(ip)
        with self._lock:
            if ip in self._by_ip:
                return self._by_ip[ip]
            cls = int(self._session.create_peer_class(f"peer {ip}"))
            if cls >= 32:
                self._session.delete_peer_class(cls)
                raise PeerClassesFull(f"no peer class left for {ip}: {len(self._by_ip)} in use")
            if self._choke_unknown:
                pc = self._session.get_peer_class(cls)
                pc["ignore_unchoke_slots"] = True
                self._session.set_peer_class(cls, pc)
            self._by_ip[ip] = cls
            self._install()
            return cls

    def set_upload_limit(self, ip: str, limit: int) -> None:
        with self._lock:
            cls = self._by_ip.get(ip)
            if cls is None:
                raise KeyError(f"{ip} has no peer class")
            # Read-modify-write: a partial dict would reset the other fields to garbage.
            pc = self._session.get_peer_class(cls)
            pc["upload_limit"] = limit
            self._session.set_peer_class(cls, pc)

    def _install(self) -> None:
        ses = self._session
        f = lt.ip_filter()
        f.add_rule(*_ALL_V4, 1 << ses.global_peer_class_id)
        f.add_rule(*_ALL_V6, 1 << ses.global_peer_class_id)
        local = ses.global_peer_class_id if self._choke_unknown else ses.local_peer_class_id
        for lo, hi in _LOCAL_V4:
            f.add_rule(lo, hi, 1 << local)
        for ip, cls in self._by_ip.items():
            base = local if _is_local(ip) else ses.global_peer_class_id
            f.add_rule(ip, ip, (1 << base) | (1 << cls))
        ses.set_peer_class_filter(f)


def _is_local(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return isinstance(addr, ipaddress.IPv4Address) and any(
        ipaddress.IPv4Address(lo) <= addr <= ipaddress.IPv4Address(hi) for lo, hi in _LOCAL_V4
    )


def _check_ip(ip: str) -> None:
    try:
        ipaddress.ip_address(ip)
    except ValueError as exc:
        raise ValueError(f"not an IP address: {ip!r}") from exc
