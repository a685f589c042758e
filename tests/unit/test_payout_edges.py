"""The payout decision's defaults, which the mutation run (scripts/mutate) showed untested."""

from __future__ import annotations

from bridge.decide import Act, Limits, Observation, PayoutRequest, decide
from core.crypto import SigningKey

TO = SigningKey.from_bytes(bytes([0x56]) * 32).address


def test_an_observation_counts_nothing_used_today_unless_told() -> None:
    request = PayoutRequest(TO, 5_000)
    limits = Limits(daily_limit=5_000)
    assert decide(Observation(request, (), solid_time=0), limits).act is Act.SIGN
    held = decide(Observation(request, (), solid_time=0, used_today=1), limits)
    assert held.act is Act.HOLD
