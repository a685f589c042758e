"""Requests per address: a token bucket each, in a table of bounded size."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_second: float = 1.0
    """Sustained requests per second one address may make."""
    burst: int = 30
    """Requests one address may make at once after being quiet."""
    max_addresses: int = 65_536
    """Buckets kept; the least recently seen address is forgotten (its bucket starts full)."""

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1 or self.max_addresses < 1:
            raise ValueError("need per_second > 0, burst >= 1 and max_addresses >= 1")


class AddressRateLimiter:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def allow(self, address: bytes, now: float) -> bool:
        """Take one token from `address`'s bucket; False when it is empty."""
        tokens, at = self._buckets.pop(address, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.per_second)
        allowed = tokens >= 1.0
        self._buckets[address] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.limit.max_addresses:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
