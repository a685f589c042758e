"""Connection keepalive and idle limits of our gRPC servers, as gRPC channel options.

What each does (as measured in tests/integration/test_keepalive.py, not only as documented):
- `time` / `timeout`: the server pings a connection that has been quiet for `time` seconds and
  closes it (GOAWAY "ping_timeout") when the ping is not answered within `timeout`, so a dead or
  stuck peer is dropped; gRPC's keepalive_timeout_ms alone does not do that (60 s), its
  http2.ping_timeout_ms does;
- `idle`: a connection with no call for `idle` seconds is sent GOAWAY ("connection idle") and
  closed (clients reconnect on their next call); an open stream keeps it from being idle;
- `min_ping_interval` / `max_ping_strikes`: a client pinging more often than once per
  `min_ping_interval` seconds while nothing else is sent gets a strike per ping; past
  `max_ping_strikes` it is sent GOAWAY (ENHANCE_YOUR_CALM, "too_many_pings") and cut off;
- `permit_without_calls`: client pings on a connection without calls are allowed at the interval
  above (measured); gRPC documents that when it is off such pings are strikes at any interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keepalive:
    time: float = 60.0
    timeout: float = 20.0
    idle: float = 900.0  # 0: idle connections are never closed
    permit_without_calls: bool = True
    min_ping_interval: float = 10.0
    max_ping_strikes: int = 2  # 0: no limit

    def __post_init__(self) -> None:
        for name in ("time", "timeout", "min_ping_interval"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"keepalive {name} must be a number of seconds above 0")
        if not (math.isfinite(self.idle) and self.idle >= 0):
            raise ValueError("keepalive idle must be a number of seconds, 0 or more")
        if self.max_ping_strikes < 0:
            raise ValueError("max ping strikes must be 0 or more")

    def options(self) -> list[tuple[str, int]]:
        def ms(seconds: float) -> int:
            return max(1, round(seconds * 1000))

        options = [
            ("grpc.keepalive_time_ms", ms(self.time)),
            ("grpc.keepalive_timeout_ms", ms(self.timeout)),
            # What actually bounds the wait for a keepalive ping's answer in this gRPC (1.85):
            # with keepalive_timeout_ms alone, an unanswered ping is given 60 s.
            ("grpc.http2.ping_timeout_ms", ms(self.timeout)),
            ("grpc.keepalive_permit_without_calls", int(self.permit_without_calls)),
            ("grpc.http2.min_ping_interval_without_data_ms", ms(self.min_ping_interval)),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
        ]
        if self.idle:
            options.append(("grpc.max_connection_idle_ms", ms(self.idle)))
        return options
