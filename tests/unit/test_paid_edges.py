"""Paid-flow figures the mutation run (scripts/mutate) showed no other test pinning."""

from __future__ import annotations

from client_sdk.torrent.paid.payers import Mode, Service
from client_sdk.torrent.paid.spending import PayeeAccount


def test_the_credit_limit_is_the_credit_plus_the_window_unless_choked() -> None:
    assert Service(Mode.PAID, 5, credited=1_000, window=500).credit_limit == 1_500
    assert Service(Mode.FREE, 0, credited=1_000, window=500).credit_limit == 1_500
    assert Service(Mode.CHOKED, 0, credited=1_000, window=500).credit_limit == 1_000


def test_a_new_payee_account_has_no_rate_and_earns_nothing() -> None:
    account = PayeeAccount()
    assert account.earn(16_384, 16_384) == 0
    assert (account.rate, account.owed, account.sent, account.due) == (0, 0, 0, False)
