"""Reserve price of a seeded torrent: zero when the download completes, growing with the time
since another peer was last known to hold the whole torrent, back to zero on proof of possession.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from client_sdk.torrent.market.bids import MAX_RATE_UNITS


class Growth(Protocol):
    def price_after(self, elapsed_s: int) -> int: ...


@dataclass(frozen=True, slots=True)
class LinearGrowth:
    """`units` per `per_seconds`, accrued second by second (rounded down), up to `cap`."""

    units: int
    per_seconds: int
    cap: int

    def __post_init__(self) -> None:
        _check(self.units, self.per_seconds, self.cap)

    def price_after(self, elapsed_s: int) -> int:
        return min(self.cap, self.units * max(0, elapsed_s) // self.per_seconds)


@dataclass(frozen=True, slots=True)
class StepGrowth:
    """`step_units` more at the end of every full `step_seconds`, up to `cap`."""

    step_units: int
    step_seconds: int
    cap: int

    def __post_init__(self) -> None:
        _check(self.step_units, self.step_seconds, self.cap)

    def price_after(self, elapsed_s: int) -> int:
        return min(self.cap, self.step_units * (max(0, elapsed_s) // self.step_seconds))


def _check(units: int, seconds: int, cap: int) -> None:
    if units < 0 or seconds <= 0 or not 0 <= cap <= MAX_RATE_UNITS:
        raise ValueError("growth needs units >= 0, seconds > 0 and 0 <= cap <= MAX_RATE_UNITS")


NO_GROWTH = StepGrowth(step_units=0, step_seconds=1, cap=0)


class ReservePrice:
    """Per seeded torrent. Times are Unix seconds passed in by the caller."""

    def __init__(self, growth: Growth, completed_at: float, *, fixed: int | None = None) -> None:
        self.growth = growth
        self._possession_known_at = completed_at
        self._fixed = _checked_fixed(fixed)

    @property
    def possession_known_at(self) -> float:
        return self._possession_known_at

    @property
    def fixed(self) -> int | None:
        return self._fixed

    def set_fixed(self, units: int | None) -> None:
        """The user's own reserve price overrides the schedule; None returns to the schedule."""
        self._fixed = _checked_fixed(units)

    def price(self, now: float) -> int:
        if self._fixed is not None:
            return self._fixed
        # Whole seconds, and a clock stepping backwards never lowers the price below zero.
        return self.growth.price_after(int(now - self._possession_known_at))

    def possession_proven(self, now: float) -> None:
        """Another peer holds the whole torrent: the price starts again from zero."""
        self._possession_known_at = max(self._possession_known_at, now)


def _checked_fixed(units: int | None) -> int | None:
    if units is not None and not 0 <= units <= MAX_RATE_UNITS:
        raise ValueError("reserve price out of range")
    return units
