"""Rate and keepalive limits are ledger settings: flag > BTT_LEDGER_* > TOML, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.keepalive import Keepalive
from core.ratelimit import RateLimit
from ledger.settings import ConfigError, load_settings


def test_limits_come_from_file_env_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RATE_LIMIT", "RATE_BURST", "KEEPALIVE_TIME", "IDLE_TIMEOUT", "CONFIG_FILE"):
        monkeypatch.delenv(f"BTT_LEDGER_{name}", raising=False)
    assert load_settings().rate() == RateLimit(rate=0.0, burst=1)
    assert load_settings().keepalive() == Keepalive()
    toml = tmp_path / "ledger.toml"
    toml.write_text(
        "rate_limit = 5.0\nkeepalive_time = 30.0\nidle_timeout = 0.0\n"
        "max_ping_strikes = 0\npermit_pings_without_calls = false\n"
    )
    s = load_settings(config_file=toml)
    assert s.rate() == RateLimit(rate=5.0, burst=10)  # two seconds' worth
    assert s.keepalive() == Keepalive(
        time=30.0, idle=0.0, max_ping_strikes=0, permit_without_calls=False
    )
    monkeypatch.setenv("BTT_LEDGER_RATE_LIMIT", "7")
    monkeypatch.setenv("BTT_LEDGER_KEEPALIVE_TIME", "45")
    s = load_settings(config_file=toml, rate_burst=3)
    assert s.rate() == RateLimit(rate=7.0, burst=3)
    assert s.keepalive().time == 45.0
    assert load_settings(config_file=toml, keepalive_time=12.0).keepalive().time == 12.0


def test_limits_that_cannot_work_are_refused_at_load() -> None:
    for flags, needle in (
        ({"rate_limit": -1.0}, "request rate"),
        ({"rate_limit": float("inf")}, "request rate"),
        ({"keepalive_timeout": 0.0}, "keepalive timeout"),
        ({"idle_timeout": -5.0}, "keepalive idle"),
        ({"max_ping_strikes": -1}, "ping strikes"),
    ):
        with pytest.raises(ConfigError, match=needle):
            load_settings(**flags)
