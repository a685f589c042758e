"""The payer's decisions, pure: how much to lock in a channel, when and how much to top it up,
and which cumulative amount to sign next. Deposits plus top-ups never exceed the budget, and a
payee is never paid more than its verified pieces earned.
"""

from __future__ import annotations

from dataclasses import dataclass

from client_sdk.torrent.paid.shares import piece_payments


class Budget:
    """The most the payer may lock in channels, and what it has locked so far."""

    def __init__(self, budget: int) -> None:
        if budget < 0:
            raise ValueError("budget must be >= 0")
        self.budget = budget
        self.locked = 0

    @property
    def left(self) -> int:
        return self.budget - self.locked

    def lock(self, amount: int) -> None:
        if not 0 <= amount <= self.left:
            raise ValueError(f"cannot lock {amount}: {self.left} left of the budget")
        self.locked += amount

    def unlock(self, amount: int) -> None:
        """An open or top-up that failed before the money moved gives its share back."""
        if not 0 <= amount <= self.locked:
            raise ValueError(f"cannot unlock {amount}: {self.locked} locked")
        self.locked -= amount

    def deposit_for(self, rate: int, min_deposit: int, pieces: int) -> int | None:
        """A channel's first deposit: enough for every piece at `rate` when the budget allows,
        never below the payee's minimum; None when the budget cannot meet the minimum."""
        deposit = min(self.left, max(min_deposit, rate * pieces))
        return deposit if deposit >= max(min_deposit, 1) else None

    def top_up_for(self, target: int, deposit: int, rate: int, pieces: int) -> int:
        """What to add so that `target` fits: at least the shortfall, in chunks worth every
        piece at `rate`, within what is left of the budget (0: nothing left)."""
        return max(0, min(self.left, max(target - deposit, rate * pieces)))


@dataclass
class PayeeAccount:
    """What the payer owes one paid seeder and has signed over to it."""

    rate: int = 0
    owed: int = 0  # earned by verified pieces
    sent: int = 0  # cumulative signed and queued
    starved: bool = False  # budget spent: payments stopped

    def earn(self, nbytes: int, piece_size: int) -> int:
        """A verified piece to which this seeder contributed `nbytes`; returns what it earned."""
        if self.rate <= 0:
            return 0
        amount = piece_payments(self.rate, {0: nbytes}, piece_size).get(0, 0)
        self.owed += amount
        return amount

    @property
    def due(self) -> bool:
        return self.owed > self.sent and not self.starved

    def next_payment(self, deposit: int) -> int | None:
        """The cumulative to sign next within `deposit`; None (and starved) when the deposit
        cannot cover any more of what is owed. Call `due` first; top up when `owed > deposit`."""
        target = min(self.owed, deposit)
        if target <= self.sent:
            self.starved = True
            return None
        self.sent = target
        return target
