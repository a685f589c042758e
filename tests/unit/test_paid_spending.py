"""The payer's pure decisions: what to lock, top up and pay. Deposits plus top-ups never exceed
the budget, and a payee is never paid more than its verified pieces earned."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.paid.shares import PaidBytes, piece_payments
from client_sdk.torrent.paid.spending import Budget, PayeeAccount

PIECE = 256 * 1024


def test_budget_locks_and_unlocks_within_bounds() -> None:
    b = Budget(1000)
    b.lock(600)
    assert (b.locked, b.left) == (600, 400)
    with pytest.raises(ValueError):
        b.lock(401)
    with pytest.raises(ValueError):
        b.lock(-1)
    b.unlock(100)
    assert b.left == 500
    with pytest.raises(ValueError):
        b.unlock(501)
    with pytest.raises(ValueError):
        b.unlock(-1)
    b.lock(500)
    assert b.left == 0
    with pytest.raises(ValueError):
        Budget(-1)


def test_first_deposit_covers_every_piece_when_the_budget_allows() -> None:
    assert Budget(10_000).deposit_for(rate=10, min_deposit=100, pieces=64) == 640
    assert Budget(10_000).deposit_for(rate=1, min_deposit=100, pieces=64) == 100  # the minimum
    assert Budget(500).deposit_for(rate=10, min_deposit=100, pieces=64) == 500  # all that is left
    assert Budget(99).deposit_for(rate=10, min_deposit=100, pieces=64) is None  # below minimum
    assert Budget(100).deposit_for(rate=10, min_deposit=100, pieces=64) == 100
    assert Budget(0).deposit_for(rate=0, min_deposit=0, pieces=64) is None  # nothing to lock
    assert Budget(5).deposit_for(rate=0, min_deposit=0, pieces=64) is None
    assert Budget(5).deposit_for(rate=1, min_deposit=0, pieces=1) == 1


def test_top_up_covers_the_shortfall_in_chunks_within_the_budget() -> None:
    b = Budget(10_000)
    assert b.top_up_for(target=700, deposit=640, rate=10, pieces=64) == 640  # a chunk
    assert b.top_up_for(target=2000, deposit=640, rate=10, pieces=64) == 1360  # the shortfall
    b.lock(9_900)
    assert b.top_up_for(target=2000, deposit=640, rate=10, pieces=64) == 100  # what is left
    b.lock(100)
    assert b.top_up_for(target=2000, deposit=640, rate=10, pieces=64) == 0


def test_account_pays_what_verified_pieces_earned_up_to_the_deposit() -> None:
    acct = PayeeAccount(rate=100)
    assert acct.earn(PIECE, PIECE) == 100
    assert acct.earn(PIECE // 4, PIECE) == 25
    assert acct.due and acct.next_payment(deposit=1000) == 125
    assert not acct.due and acct.sent == 125
    acct.earn(PIECE, PIECE)
    assert acct.next_payment(deposit=200) == 200  # capped by the deposit
    assert acct.due and not acct.starved
    assert acct.next_payment(deposit=200) is None  # nothing more fits: starved
    assert acct.starved and not acct.due
    assert PayeeAccount(rate=0).earn(PIECE, PIECE) == 0


def test_piece_payments_round_down_and_pay_a_whole_piece_the_rate() -> None:
    assert piece_payments(100, {"a": PIECE, "b": 0}, PIECE) == {"a": 100}
    assert piece_payments(100, {"a": PIECE // 3, "b": PIECE - PIECE // 3}, PIECE) == {
        "a": 33,
        "b": 66,
    }
    assert piece_payments(100, {"a": 2 * PIECE}, PIECE) == {"a": 100}  # capped at the piece
    assert piece_payments(7, {"a": 100}, 100) == {"a": 7}  # a short last piece, whole
    with pytest.raises(ValueError):
        piece_payments(-1, {}, PIECE)
    with pytest.raises(ValueError):
        piece_payments(1, {}, 0)


def test_paid_bytes_keep_what_was_paid_at_an_earlier_rate() -> None:
    pb = PaidBytes(PIECE)
    assert pb.value == 0
    pb.set_rate(100)
    assert pb.paid(200) == 2 * PIECE
    pb.set_rate(50)  # the auction repriced: later value converts at 50
    assert pb.paid(250) == 3 * PIECE
    assert pb.paid(10) == 3 * PIECE  # a lower cumulative changes nothing
    pb.set_rate(50)
    assert pb.value == 3 * PIECE
    pb.set_rate(0)  # free now: what was paid stays paid
    assert pb.paid(1000) == 3 * PIECE


ops = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, PIECE)),
        st.tuples(st.just("pay"), st.just(0)),
        st.tuples(st.just("fail"), st.integers(0, 5)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    budget=st.integers(0, 5000),
    rate=st.integers(1, 200),
    min_deposit=st.integers(0, 300),
    pieces=st.integers(1, 20),
    ops=ops,
)
def test_locked_never_exceeds_budget_and_paid_never_exceeds_earned(
    budget: int, rate: int, min_deposit: int, pieces: int, ops: list[tuple[str, int]]
) -> None:
    """The payer's loop, as PaidDownloader runs it, in any order of verified pieces, payments
    and failed top-ups."""
    b = Budget(budget)
    deposit = b.deposit_for(rate, min_deposit, pieces)
    if deposit is None:
        return
    b.lock(deposit)
    acct = PayeeAccount(rate=rate)
    signed: list[int] = []
    failed_top_ups = 0
    for op, n in ops:
        if op == "earn":
            acct.earn(n, PIECE)
        elif op == "fail":
            failed_top_ups = n
        while op == "pay" and acct.due:
            if acct.owed > deposit:
                extra = b.top_up_for(acct.owed, deposit, rate, pieces)
                if extra > 0:
                    b.lock(extra)
                    if failed_top_ups:
                        failed_top_ups -= 1
                        b.unlock(extra)
                    else:
                        deposit += extra
            target = acct.next_payment(deposit)
            if target is None:
                break
            signed.append(target)
        assert 0 <= b.locked <= budget
        assert deposit <= b.locked
        assert acct.sent <= min(acct.owed, deposit)
        assert signed == sorted(set(signed))  # every new state pays strictly more


def test_unlock_accepts_nothing_and_everything_locked() -> None:
    b = Budget(100)
    b.lock(40)
    b.unlock(0)
    assert b.locked == 40
    b.unlock(40)
    assert (b.locked, b.left) == (0, 100)
    b.lock(0)
    b.lock(100)
    assert b.left == 0


def test_payment_boundaries() -> None:
    assert piece_payments(0, {"a": PIECE}, PIECE) == {}  # free: nothing earned, no error
    assert piece_payments(5, {"a": 1}, 1) == {"a": 5}  # a one-byte piece
    assert piece_payments(100, {"a": 0}, 10) == {}  # no bytes, nothing
    assert piece_payments(1, {"a": PIECE}, PIECE) == {"a": 1}  # one unit is still paid
    assert PayeeAccount(rate=1).earn(PIECE, PIECE) == 1
    tiny = PayeeAccount(rate=100)
    assert tiny.earn(1, PIECE) == 0 and tiny.owed == 0  # rounds down to nothing


def test_a_piece_delivered_before_a_reprice_is_credited_whole_at_either_rate() -> None:
    for old, new in ((50_000, 80_000), (80_000, 50_000)):
        for paid_at in (old, new):
            pb = PaidBytes(PIECE)
            pb.set_rate(old)
            pb.paid(old)  # piece 0 paid at the old rate
            pb.set_rate(new, delivered=2 * PIECE)  # piece 1 delivered, not paid yet
            assert pb.paid(old + paid_at) >= 2 * PIECE, (old, new, paid_at)
            assert pb.paid(old + paid_at + new) >= 3 * PIECE  # piece 2 at the new rate


@given(
    old=st.integers(1, 10**6),
    new=st.integers(1, 10**6),
    debt_pieces=st.integers(0, 4),
    at_old=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_the_payer_is_never_short_of_credit_across_a_reprice(
    old: int, new: int, debt_pieces: int, at_old: list[bool]
) -> None:
    """Pieces in flight at a reprice, each paid at the rate the payer knew (old or new): the
    credit covers them all, and value never falls as payments come in."""
    pb = PaidBytes(PIECE)
    pb.set_rate(old)
    pb.set_rate(new, delivered=debt_pieces * PIECE)
    cumulative, last = 0, 0
    for i in range(debt_pieces):
        rate = old if at_old[i] else new
        for step in range(1, rate + 1, max(1, rate // 7)):
            assert pb.paid(cumulative + step) >= last
            last = pb.value
        cumulative += rate
        assert pb.paid(cumulative) >= (i + 1) * PIECE
    assert pb.paid(cumulative + new) >= (debt_pieces + 1) * PIECE
