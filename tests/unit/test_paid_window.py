"""The payer's request window: it asks for no more than its paid seeders' credit limits allow,
one piece at a time when the window is smaller than a piece, and every piece in the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.paid.window import RequestWindow
from client_sdk.torrent.session import Geometry

PIECE = 256 * 1024
GEO = Geometry(PIECE, 10 * PIECE - 1000, 10)  # the last piece is short


def test_releases_pieces_in_order_within_the_limit() -> None:
    w = RequestWindow(GEO)
    assert w.grant(credited=0, limit=2 * PIECE) == [0, 1]
    assert w.released_bytes == 2 * PIECE
    assert w.grant(credited=0, limit=2 * PIECE + PIECE - 1) == []  # a piece needs room whole
    assert w.grant(credited=PIECE, limit=3 * PIECE) == [2]
    assert w.outstanding == {0, 1, 2}


def test_a_window_smaller_than_a_piece_lets_one_piece_through_once_all_is_paid() -> None:
    w = RequestWindow(GEO)
    assert w.grant(credited=0, limit=PIECE // 2) == [0]  # nothing out, nothing unpaid
    assert w.grant(credited=0, limit=PIECE // 2) == []  # piece 0 is outstanding
    w.verified(0)
    assert w.grant(credited=PIECE - 1, limit=PIECE + PIECE // 2) == []  # not all paid yet
    assert w.grant(credited=PIECE, limit=PIECE + PIECE // 2) == [1]
    assert w.outstanding == {1}


def test_verified_pieces_leave_the_outstanding_set_and_the_last_piece_is_short() -> None:
    w = RequestWindow(GEO, have=range(9))
    assert w.grant(credited=0, limit=PIECE) == [9]
    assert w.released_bytes == PIECE - 1000
    assert not w.done
    w.verified(9)
    assert w.done and w.grant(credited=PIECE, limit=10 * PIECE) == []


def test_a_failed_piece_counts_its_bytes_again() -> None:
    w = RequestWindow(GEO)
    assert w.grant(credited=0, limit=2 * PIECE) == [0, 1]
    w.failed(1)
    assert w.released_bytes == 3 * PIECE  # libtorrent asks the seeder for piece 1 again
    assert w.grant(credited=PIECE, limit=3 * PIECE) == []
    assert w.grant(credited=PIECE, limit=4 * PIECE) == [2]
    w.failed(7)  # never released: nothing is asked again
    assert w.released_bytes == 4 * PIECE


def test_ending_the_window_hands_over_everything_unreleased() -> None:
    w = RequestWindow(GEO)
    w.grant(credited=0, limit=PIECE)
    assert w.remaining() == list(range(1, 10))
    assert w.grant(credited=10 * PIECE, limit=20 * PIECE) == []
    w.verified(0)
    assert w.done


@settings(max_examples=200, deadline=None)
@given(
    window=st.integers(1, 3 * PIECE),
    steps=st.lists(st.tuples(st.sampled_from(["pay", "verify", "fail"]), st.integers(0, 9))),
)
def test_requested_minus_paid_never_exceeds_the_window_or_one_piece(
    window: int, steps: list[tuple[str, int]]
) -> None:
    """With one paid source that pays for what it verified and forgives the pieces that failed
    (the payer reports them), what the payer has asked for and not paid stays within
    max(window, one piece), in any interleaving; and paying for every verified piece lets the
    whole torrent through."""
    w = RequestWindow(GEO)
    credited = 0
    bound = max(window, PIECE)

    def grant() -> None:
        w.grant(credited, credited + window)
        assert w.released_bytes - credited <= bound

    grant()
    for kind, n in steps:
        out = sorted(w.outstanding)
        if kind == "pay":
            credited = min(w.released_bytes, credited + n * 1000)
        elif out and kind == "verify":
            w.verified(out[n % len(out)])
        elif out and kind == "fail":
            piece = out[n % len(out)]
            credited += GEO.piece_size(piece)  # forgiven: the credit arrives before the refill
            w.failed(piece)
        grant()
    # Honest to the end: pay for everything asked for, verify everything out.
    for _ in range(100):
        if w.done:
            break
        for piece in sorted(w.outstanding):
            w.verified(piece)
        credited = w.released_bytes
        grant()
    assert w.done


def test_a_reprice_upward_with_a_piece_in_flight_does_not_shut_the_window() -> None:
    """The payee's credit (PaidBytes) meets the payer's request window across a reprice: a
    piece delivered at 50,000 and paid at 50,000 after the payee moved to 80,000 still counts
    whole, so the window opens again once it is verified."""
    from client_sdk.torrent.paid.shares import PaidBytes

    window = RequestWindow(GEO)
    credit = PaidBytes(PIECE)
    credit.set_rate(50_000)
    assert window.grant(credit.value, credit.value + PIECE) == [0]
    window.verified(0)
    credit.paid(50_000)  # piece 0 paid
    assert window.grant(credit.value, credit.value + PIECE) == [1]
    credit.set_rate(80_000, delivered=2 * PIECE)  # piece 1 delivered, then the reprice
    window.verified(1)
    credit.paid(100_000)  # piece 1 paid at the rate the payer knew
    assert window.grant(credit.value, credit.value + PIECE) == [2]
