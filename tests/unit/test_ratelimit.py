"""The token bucket's decisions, given the time."""

from __future__ import annotations

import pytest

from core.keepalive import Keepalive
from core.ratelimit import RateLimit, RateLimiter, client_address


def test_a_burst_then_the_rate_with_the_wait_until_the_next_token() -> None:
    limiter = RateLimiter(RateLimit(rate=2, burst=3))
    assert [limiter.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 100.0) == pytest.approx(0.5)
    assert limiter.take("a", 100.25) == pytest.approx(0.25)  # half a token back, none spent
    assert limiter.take("a", 100.5) == 0.0
    assert limiter.take("a", 100.5) == pytest.approx(0.5)
    assert limiter.take("b", 100.5) == 0.0  # its own bucket
    # A long pause refills to the burst, not beyond.
    assert [limiter.take("a", 1000.0) for _ in range(4)][-1] == pytest.approx(0.5)


def test_off_allows_everything_and_buckets_are_bounded() -> None:
    off = RateLimiter(RateLimit())
    assert all(off.take("a", 0.0) == 0.0 for _ in range(1000))
    limiter = RateLimiter(RateLimit(rate=1, burst=1), max_clients=2)
    for client in ("a", "b", "c"):
        assert limiter.take(client, 0.0) == 0.0
    assert len(limiter) == 2
    assert limiter.take("a", 0.0) == 0.0  # forgotten: a full bucket again
    assert limiter.take("c", 0.0) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (float("nan"), 1), (float("inf"), 1), (1, 0)])
def test_settings_that_cannot_work_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(rate=rate, burst=burst)


def test_client_addresses() -> None:
    assert client_address("ipv4:203.0.113.7:5123") == "203.0.113.7"
    assert client_address("ipv6:[2001:db8:1:2::9]:5123") == "2001:db8:1:2::/64"
    assert client_address("unix:/tmp/x") == "unix:/tmp/x"


def test_keepalive_options_and_refusals() -> None:
    options = dict(Keepalive(time=30, timeout=5, idle=0, max_ping_strikes=3).options())
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.http2.ping_timeout_ms"] == options["grpc.keepalive_timeout_ms"] == 5000
    assert options["grpc.http2.max_ping_strikes"] == 3
    assert "grpc.max_connection_idle_ms" not in options  # 0: never closed for idleness
    assert dict(Keepalive(idle=1.5).options())["grpc.max_connection_idle_ms"] == 1500
    for bad in ({"time": 0}, {"timeout": float("nan")}, {"idle": -1}, {"max_ping_strikes": -1}):
        with pytest.raises(ValueError):
            Keepalive(**bad)  # type: ignore[arg-type]
