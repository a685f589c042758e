"""Autobid (payer side): bid = spending_rate * remaining_balance / remaining_download_bytes.

Rounding rule: the per-piece bid is computed in one integer expression and rounded down,
    bid_per_piece = floor(num * balance * piece_size / (den * remaining_bytes)),
then capped at the remaining balance, so a bid never promises more than the budget allows.
Re-bids are throttled: at most once per `min_interval_s` per torrent, and only when the value moved
by more than `min_change_ppm`; a user change (budget, spending rate) re-bids at once.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from client_sdk.torrent.market.bids import InfoHash

Clock = Callable[[], float]
PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class SpendingRate:
    """A non-negative rational; 1 means: bid as if the whole balance pays for the rest."""

    numerator: int
    denominator: int = 1

    def __post_init__(self) -> None:
        if self.numerator < 0 or self.denominator <= 0:
            raise ValueError("spending rate must be a non-negative fraction")

    @classmethod
    def percent(cls, value: int) -> SpendingRate:
        return cls(value, 100)

    @classmethod
    def ppm(cls, value: int) -> SpendingRate:
        return cls(value, PPM)


@dataclass(frozen=True, slots=True)
class RebidPolicy:
    min_interval_s: float = 60.0
    min_change_ppm: int = 100_000
    """A throttled re-bid needs |new - old| > old * min_change_ppm / 1e6 (10% by default)."""


@dataclass(frozen=True, slots=True)
class TorrentNeed:
    info_hash: InfoHash
    piece_size: int
    remaining_bytes: int


class RebidReason(enum.Enum):
    FIRST = "FIRST"
    MOVED = "MOVED"
    USER_CHANGE = "USER_CHANGE"
    DISABLED = "DISABLED"
    COMPLETE = "COMPLETE"


@dataclass(frozen=True, slots=True)
class BidUpdate:
    """Send this rate to the torrent's payees; None withdraws the bid."""

    info_hash: InfoHash
    rate_per_piece_units: int | None
    reason: RebidReason
    at: float


def autobid_per_piece(
    spending_rate: SpendingRate, remaining_balance: int, remaining_bytes: int, piece_size: int
) -> int:
    if remaining_bytes <= 0 or piece_size <= 0:
        raise ValueError("remaining_bytes and piece_size must be positive")
    balance = max(0, remaining_balance)
    bid = (spending_rate.numerator * balance * piece_size) // (
        spending_rate.denominator * remaining_bytes
    )
    return min(bid, balance)


def moved_enough(old: int, new: int, min_change_ppm: int) -> bool:
    return abs(new - old) * PPM > old * min_change_ppm


@dataclass(frozen=True, slots=True)
class _Sent:
    rate: int
    at: float


class Autobidder:
    """Holds the user's controls and what was last bid per torrent. Time from `clock`."""

    def __init__(
        self,
        *,
        budget: int,
        spending_rate: SpendingRate,
        policy: RebidPolicy | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.policy = policy or RebidPolicy()
        self._clock = clock
        self._budget = _non_negative(budget)
        self._spent = 0
        self._spending_rate = spending_rate
        self._enabled = True
        self._disabled_torrents: set[InfoHash] = set()
        self._torrent_rates: dict[InfoHash, SpendingRate] = {}
        self._sent: dict[InfoHash, _Sent] = {}
        self._user_changed = False

    @property
    def remaining_balance(self) -> int:
        return max(0, self._budget - self._spent)

    @property
    def spending_rate(self) -> SpendingRate:
        return self._spending_rate

    def set_budget(self, budget: int) -> None:
        self._budget = _non_negative(budget)
        self._user_changed = True

    def set_spending_rate(self, rate: SpendingRate) -> None:
        self._spending_rate = rate
        self._user_changed = True

    def set_torrent_spending_rate(self, info_hash: InfoHash, rate: SpendingRate | None) -> None:
        """This torrent's own spending rate (None: the common one)."""
        if rate is None:
            self._torrent_rates.pop(info_hash, None)
        else:
            self._torrent_rates[info_hash] = rate
        self._user_changed = True

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def set_torrent_enabled(self, info_hash: InfoHash, enabled: bool) -> None:
        if enabled:
            self._disabled_torrents.discard(info_hash)
        else:
            self._disabled_torrents.add(info_hash)

    def is_bidding(self, info_hash: InfoHash) -> bool:
        return self._enabled and info_hash not in self._disabled_torrents

    def record_spent(self, units: int) -> None:
        self._spent += _non_negative(units)

    def current_bid(self, info_hash: InfoHash) -> int | None:
        sent = self._sent.get(info_hash)
        return None if sent is None else sent.rate

    def poll(self, needs: Iterable[TorrentNeed]) -> tuple[BidUpdate, ...]:
        """Call often (e.g. every choke round); returns only the bids worth sending now.

        The balance is spread over the remaining bytes of every torrent being bid on, so the
        per-byte bid is the same for all of them (times each torrent's own spending rate).
        """
        now = self._clock()
        needs = list(needs)
        active = [n for n in needs if self.is_bidding(n.info_hash) and n.remaining_bytes > 0]
        total_remaining = sum(n.remaining_bytes for n in active)
        forced, self._user_changed = self._user_changed, False
        updates = [u for n in needs if (u := self._withdrawal(n, now)) is not None]
        for need in active:
            spending = self._torrent_rates.get(need.info_hash, self._spending_rate)
            rate = autobid_per_piece(
                spending, self.remaining_balance, total_remaining, need.piece_size
            )
            reason = self._rebid_reason(self._sent.get(need.info_hash), rate, now, forced)
            if reason is not None:
                self._sent[need.info_hash] = _Sent(rate, now)
                updates.append(BidUpdate(need.info_hash, rate, reason, now))
        return tuple(updates)

    def _withdrawal(self, need: TorrentNeed, now: float) -> BidUpdate | None:
        if need.info_hash not in self._sent:
            return None
        if not self.is_bidding(need.info_hash):
            reason = RebidReason.DISABLED
        elif need.remaining_bytes <= 0:
            reason = RebidReason.COMPLETE
        else:
            return None
        del self._sent[need.info_hash]
        return BidUpdate(need.info_hash, None, reason, now)

    def _rebid_reason(
        self, last: _Sent | None, rate: int, now: float, forced: bool
    ) -> RebidReason | None:
        if last is None:
            return RebidReason.FIRST
        if rate == last.rate:
            return None
        if forced:
            return RebidReason.USER_CHANGE
        if now - last.at < self.policy.min_interval_s:
            return None
        if moved_enough(last.rate, rate, self.policy.min_change_ppm):
            return RebidReason.MOVED
        return None


def _non_negative(units: int) -> int:
    if units < 0:
        raise ValueError("amount must not be negative")
    return units
