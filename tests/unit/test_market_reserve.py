from __future__ import annotations

import pytest

from client_sdk.torrent.market import NO_GROWTH, LinearGrowth, ReservePrice, StepGrowth


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("elapsed", "want"),
    [(0, 0), (5, 0), (6, 1), (59, 9), (60, 10), (90, 15), (599, 99), (600, 100), (10**9, 100)],
)
def test_linear_growth(elapsed: int, want: int) -> None:
    # 10 units per minute, accrued per second and rounded down, capped at 100.
    assert LinearGrowth(units=10, per_seconds=60, cap=100).price_after(elapsed) == want


@pytest.mark.parametrize(
    ("elapsed", "want"), [(0, 0), (3599, 0), (3600, 25), (7199, 25), (7200, 50), (10**7, 60)]
)
def test_step_growth(elapsed: int, want: int) -> None:
    assert StepGrowth(step_units=25, step_seconds=3600, cap=60).price_after(elapsed) == want


@pytest.mark.parametrize("args", [(-1, 60, 10), (1, 0, 10), (1, 60, -1), (1, 60, 10**19)])
def test_bad_growth_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        LinearGrowth(*args)
    with pytest.raises(ValueError):
        StepGrowth(*args)


def test_reserve_starts_at_zero_grows_and_resets_on_proof() -> None:
    clock = FakeClock()
    reserve = ReservePrice(LinearGrowth(units=1, per_seconds=1, cap=1000), completed_at=clock())
    assert reserve.price(clock()) == 0
    clock.advance(300)
    assert reserve.price(clock()) == 300
    reserve.possession_proven(clock())
    assert reserve.price(clock()) == 0
    clock.advance(2000)
    assert reserve.price(clock()) == 1000  # capped


def test_clock_going_backwards_never_goes_negative_nor_rewinds_proof() -> None:
    clock = FakeClock()
    reserve = ReservePrice(LinearGrowth(1, 1, 10**6), completed_at=clock())
    assert reserve.price(clock() - 50) == 0
    reserve.possession_proven(clock() - 100)  # an older proof does not push the anchor back
    assert reserve.possession_known_at == clock()


def test_user_fixed_reserve_overrides_schedule() -> None:
    reserve = ReservePrice(NO_GROWTH, completed_at=0.0, fixed=42)
    assert reserve.price(10**6) == 42
    reserve.possession_proven(5.0)
    assert reserve.price(10.0) == 42
    reserve.set_fixed(None)
    assert reserve.price(10**6) == 0
    with pytest.raises(ValueError):
        reserve.set_fixed(-1)
