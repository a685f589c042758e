"""Paid-flow figures the mutation run (scripts/mutate) showed no other test pinning."""

from __future__ import annotations

from client_sdk.torrent.paid.payers import ChokeReason, Limits, Mode, PayerAccount, Service
from client_sdk.torrent.paid.shares import PaidBytes
from client_sdk.torrent.paid.spending import PayeeAccount


def test_the_credit_limit_is_the_credit_plus_the_window_unless_choked() -> None:
    assert Service(Mode.PAID, 5, credited=1_000, window=500).credit_limit == 1_500
    assert Service(Mode.FREE, 0, credited=1_000, window=500).credit_limit == 1_500
    assert Service(Mode.CHOKED, 0, credited=1_000, window=500).credit_limit == 1_000


def test_a_new_payee_account_has_no_rate_and_earns_nothing() -> None:
    account = PayeeAccount()
    assert account.earn(16_384, 16_384) == 0
    assert (account.rate, account.owed, account.sent, account.due) == (0, 0, 0, False)


PIECE = 64 * 1024
LIMITS = Limits(
    window=PIECE, gift_ahead=4 * PIECE, max_forgiven=0, max_payment_failures=3, payment_timeout=1
)


def payer(mode: Mode, rate: int = 100) -> PayerAccount:
    acct = PayerAccount("Tpayer", "ab" * 20, "127.0.0.9", "127.0.0.9:6881", PaidBytes(PIECE))
    acct.mode = mode
    acct.paid.set_rate(rate)
    return acct


def test_the_service_told_a_payer_follows_its_mode() -> None:
    paid = payer(Mode.PAID).service(LIMITS)
    assert (paid.mode, paid.rate, paid.window) == (Mode.PAID, 100, PIECE)
    free = payer(Mode.FREE).service(LIMITS)
    assert (free.mode, free.rate) == (Mode.FREE, 0)
    choked = payer(Mode.CHOKED)
    choked.choked_for = ChokeReason.OUTBID
    told = choked.service(LIMITS)
    assert (told.mode, told.rate, told.reason) == (Mode.CHOKED, 0, ChokeReason.OUTBID.value)


def test_paid_bytes_without_a_rate_convert_nothing() -> None:
    assert PaidBytes(PIECE, cumulative=5).value == 0


def test_paid_bytes_at_one_unit_per_piece() -> None:
    assert PaidBytes(PIECE, rate=1, cumulative=3).value == 3 * PIECE


def test_paid_bytes_start_from_nothing() -> None:
    assert PaidBytes(PIECE, rate=10, cumulative=10).value == PIECE
