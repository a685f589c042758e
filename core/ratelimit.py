"""Per-client request rate limits: one token bucket per client address.

A client may send `burst` requests at once, then `rate` a second. A request over the limit is
told how long to wait before the next one would be let through. Pure: the caller passes the
time (monotonic seconds), so the decisions are testable without sleeping.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass


def client_address(peer: str) -> str:
    """Who a gRPC peer counts as for per-client limits: its IPv4 address, its IPv6 /64 (what one
    host usually has), or the peer string itself (a Unix socket)."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return peer
    host = rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv6":
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_network(f"{host.split('%')[0]}/64", strict=False))
    return host


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`rate` requests a second per client address, `burst` at once; rate 0 turns it off."""

    rate: float = 0.0
    burst: int = 0

    def __post_init__(self) -> None:
        if not (self.rate >= 0 and math.isfinite(self.rate)):
            raise ValueError("the request rate must be a finite number, 0 or more")
        if self.rate > 0 and self.burst < 1:
            raise ValueError("the request burst must be at least 1 when a rate is set")

    @property
    def enabled(self) -> bool:
        return self.rate > 0


class RateLimiter:
    """Token buckets by client. Keeps at most `max_clients` buckets: the least recently seen are
    forgotten first, which only ever gives a client a full bucket again."""

    def __init__(self, limit: RateLimit, *, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, client: str, now: float) -> float:
        """Spend one token of `client`'s bucket: 0.0 if the request may go, else the seconds
        until it would be allowed (nothing is spent then)."""
        rate, burst = self.limit.rate, float(self.limit.burst)
        if rate <= 0:
            return 0.0
        tokens, at = self._buckets.pop(client, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        if tokens >= 1.0:
            self._remember(client, tokens - 1.0, now)
            return 0.0
        self._remember(client, tokens, now)
        return (1.0 - tokens) / rate

    def _remember(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
