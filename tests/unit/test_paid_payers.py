"""The payee's pure account of its payers: delivery, credit, gifts, forgiveness, bans, and the
one rate in force, written by the auction's rounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.market import (
    ActionKind,
    Auctioneer,
    AuctioneerConfig,
    Bid,
    InfoHash,
    PeerAccount,
)
from client_sdk.torrent.paid.payers import (
    Ban,
    ChokeReason,
    Credit,
    Limits,
    Mode,
    PayerAccount,
    PayerRoster,
    Reprice,
    mode_of,
)
from client_sdk.torrent.paid.shares import PaidBytes

PIECE = 4 * 16 * 1024
IH = "ab" * 20
IHB = InfoHash(bytes.fromhex(IH))
LIMITS = Limits(
    window=PIECE,
    gift_ahead=4 * PIECE,
    max_forgiven=2 * PIECE,
    max_payment_failures=3,
    payment_timeout=10.0,
)


def account(mode: Mode = Mode.PAID, rate: int = 100) -> PayerAccount:
    acct = PayerAccount("Tpayer", IH, "127.0.0.9", "127.0.0.9:6881", PaidBytes(PIECE))
    acct.mode = mode
    acct.paid.set_rate(rate)
    return acct


def test_delivery_counts_a_piece_whole_once() -> None:
    acct = account()
    half = PIECE // 2
    d1 = acct.deliver(0, half, PIECE)
    d2 = acct.deliver(0, half, PIECE)
    d3 = acct.deliver(0, half, PIECE)  # a re-sent block: the piece is not counted again
    assert (d1.first, d1.whole) == (True, False)
    assert (d2.first, d2.whole) == (False, True)
    assert (d3.first, d3.whole) == (False, False)
    assert acct.whole_pieces == 1 and acct.sent == 3 * half
    short = acct.deliver(9, 100, 100)  # the short last piece in one block
    assert (short.first, short.whole) == (True, True) and acct.whole_pieces == 2


def test_credit_is_paid_plus_gift_plus_forgiven_and_nothing_when_choked() -> None:
    acct = account(rate=100)
    assert acct.credit() is None  # nothing credited yet
    acct.paid.paid(200)  # two pieces' worth at 100 a piece
    acct.gift, acct.forgiven = 7, 5
    assert acct.credited == 2 * PIECE + 12
    assert acct.credit() == Credit("127.0.0.9", IH, 2 * PIECE + 12)
    acct.mode = Mode.CHOKED
    assert acct.credit() is None
    acct.mode = Mode.FREE
    assert acct.credit() is not None


def test_rate_in_force_only_for_a_paying_winner() -> None:
    acct = account(Mode.PAID, 300)
    assert acct.rate == 300
    for mode in (Mode.FREE, Mode.CHOKED):
        acct.mode = mode
        assert acct.rate is None


def test_free_peer_gift_keeps_ahead_of_what_it_was_sent() -> None:
    acct = account(Mode.FREE)
    assert acct.gift_low(LIMITS)  # nothing credited, window ahead wanted
    acct.deliver(0, PIECE, PIECE)
    acct.top_up_gift(LIMITS)
    assert acct.gift == PIECE + LIMITS.gift_ahead
    assert not acct.gift_low(LIMITS)
    acct.top_up_gift(LIMITS)  # still ahead: unchanged
    assert acct.gift == PIECE + LIMITS.gift_ahead
    acct.mode = Mode.PAID
    acct.gift = 0
    assert not acct.gift_low(LIMITS)  # a paying peer gets no gift


def test_forgiveness_is_capped_per_report_and_in_all() -> None:
    acct = account()
    assert acct.forgive(3 * PIECE, PIECE, LIMITS) == PIECE  # one piece per report
    assert acct.forgive(100, PIECE, LIMITS) == 100
    assert acct.forgive(PIECE, PIECE, LIMITS) == PIECE - 100  # the cap: two pieces in all
    assert acct.forgive(PIECE, PIECE, LIMITS) == 0
    assert acct.forgiven == LIMITS.max_forgiven
    assert account().forgive(-5, PIECE, LIMITS) == 0


def test_refused_payments_earn_a_ban_at_the_limit() -> None:
    acct = account()
    assert acct.refused_payment("BAD_SIGNATURE", LIMITS) is None
    assert acct.refused_payment("BAD_SIGNATURE", LIMITS) is None
    ban = acct.refused_payment("STALE_STATE", LIMITS)
    assert ban == Ban("127.0.0.9", "Tpayer", "3 refused payment updates (STALE_STATE)")
    acct.banned()
    assert (acct.failures, acct.bans) == (0, 1)


def test_a_payer_that_stops_paying_is_banned_after_the_timeout() -> None:
    acct = account(rate=100)
    over = 2 * PIECE + 1  # whole pieces unpaid beyond the window
    assert acct.check_overdue(0.0, over, True, LIMITS) is None
    assert acct.overdue_since == 0.0
    assert acct.check_overdue(9.9, over, True, LIMITS) is None
    ban = acct.check_overdue(10.0, over, True, LIMITS)
    assert ban is not None and "stopped paying" in ban.why
    # Paying again, or not throttled, resets the clock.
    assert acct.check_overdue(11.0, PIECE, True, LIMITS) is None and acct.overdue_since is None
    acct.check_overdue(12.0, over, True, LIMITS)
    assert acct.check_overdue(30.0, over, False, LIMITS) is None and acct.overdue_since is None
    # Exactly the window unpaid is not overdue.
    assert acct.check_overdue(40.0, PIECE, True, LIMITS) is None and acct.overdue_since is None
    free = account(Mode.FREE)
    assert free.check_overdue(0.0, over, True, LIMITS) is None
    assert free.check_overdue(99.0, over, True, LIMITS) is None


def test_round_data_is_what_was_sent_since_the_last_round() -> None:
    acct = account()
    acct.deliver(0, 10, PIECE)
    assert acct.round_data() == 10
    assert acct.round_data() == 0
    acct.deliver(0, 5, PIECE)
    assert acct.round_data() == 5


def test_modes_from_actions() -> None:
    assert mode_of(ActionKind.CHOKE, 0) is Mode.CHOKED
    assert mode_of(ActionKind.UNCHOKE, 0) is Mode.FREE
    assert mode_of(ActionKind.SEND_BID_RESPONSE, 0) is Mode.FREE
    assert mode_of(ActionKind.RESPOND_THEN_UNCHOKE, 5) is Mode.PAID
    assert mode_of(ActionKind.CHOKE_RESPOND_UNCHOKE, 5) is Mode.PAID
    assert mode_of(ActionKind.CHOKE, 5) is Mode.CHOKED


def test_roster_join_moves_an_account_to_its_new_address() -> None:
    roster = PayerRoster(LIMITS)
    a = roster.join("Tp", IH, "127.0.0.2", "127.0.0.2:1", PIECE)
    assert roster.at("127.0.0.2", IH) is a and roster.get("Tp", IH) is a
    b = roster.join("Tp", IH, "127.0.0.3", "127.0.0.3:2", PIECE)
    assert b is a and a.endpoint == "127.0.0.3:2" and a.ip == "127.0.0.3"
    assert roster.at("127.0.0.2", IH) is None and roster.at("127.0.0.3", IH) is a
    roster.join("Tp", IH, "127.0.0.3", "127.0.0.3:9", PIECE)
    assert a.endpoint == "127.0.0.3:9"
    assert list(roster) == [a]
    assert roster.rate_for("Tnobody", IH) is None


def test_rounds_write_modes_rates_and_effects() -> None:
    roster = PayerRoster(LIMITS)
    auction = Auctioneer(IHB, config=AuctioneerConfig(paid_slots=1, optimistic_slots=1))
    for payer, bid in (("Ta", 50), ("Tb", 30)):
        roster.join(payer, IH, f"127.0.0.{len(payer)}", "x:1", PIECE)
        auction.submit_bid(Bid(PeerAccount(payer), IHB, bid, 1.0))
    roster.join("Tc", IH, "127.0.0.7", "x:1", PIECE)  # joined, never bid
    auction.add_peer(PeerAccount("Tghost"))  # in the auction, unknown to the roster
    auction.timer_tick()
    effects = roster.apply_round(IH, auction.run_round(1.0))
    a, b = roster.get("Ta", IH), roster.get("Tb", IH)
    assert a is not None and b is not None
    assert (a.mode, roster.rate_for("Ta", IH)) == (Mode.PAID, 30)  # uniform price: b's bid
    assert b.mode is Mode.FREE and roster.rate_for("Tb", IH) is None
    assert Reprice("Ta", IH, 30) in effects
    assert Credit(b.ip, IH, b.gift) in effects and b.gift == LIMITS.gift_ahead
    assert roster.round_data(IH) == {"Ta": 0, "Tb": 0, "Tc": 0}
    auction.withdraw_bid(PeerAccount("Ta"))
    auction.remove_peer(PeerAccount("Tb"))
    effects = roster.apply_round(IH, auction.run_round(2.0))
    assert a.mode is not Mode.PAID and roster.rate_for("Ta", IH) is None
    assert not any(isinstance(e, Reprice) for e in effects)


bids = st.lists(
    st.tuples(st.sampled_from(["Ta", "Tb", "Tc", "Td", "Te"]), st.integers(0, 1000)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(bids=bids, slots=st.integers(1, 3), reserve=st.integers(0, 500))
def test_the_rate_in_force_never_exceeds_the_bid_and_is_the_uniform_price(
    bids: list[tuple[str, int]], slots: int, reserve: int
) -> None:
    roster = PayerRoster(LIMITS)
    auction = Auctioneer(
        IHB, config=AuctioneerConfig(paid_slots=slots, optimistic_slots=1), reserve=reserve
    )
    current: dict[str, int] = {}
    for i, (payer, bid) in enumerate(bids):
        roster.join(payer, IH, "127.0.0.1", "x:1", PIECE)
        assert auction.submit_bid(Bid(PeerAccount(payer), IHB, bid, float(i))) is None
        current[payer] = bid
        roster.apply_round(IH, auction.run_round(float(i)))
        rates = {p: r for p in current if (r := roster.rate_for(p, IH)) is not None}
        eligible = sorted((b for b in current.values() if b >= reserve), reverse=True)
        for payer_, rate in rates.items():
            assert 0 < rate <= current[payer_]
        if rates:
            losing = eligible[slots] if len(eligible) > slots else None
            price = reserve if losing is None else max(losing, reserve)
            # The highest losing bid or the reserve; a price of 0 makes winners free riders.
            assert price > 0 and set(rates.values()) == {price}


def test_boundaries_of_delivery_gifts_and_bans() -> None:
    acct = account()
    assert not acct.deliver(0, PIECE - 1, PIECE).whole  # one byte short is not whole
    assert acct.deliver(0, 1, PIECE).whole
    free = account(Mode.FREE)
    free.gift = LIMITS.window  # exactly the window ahead: not low
    assert not free.gift_low(LIMITS)
    free.gift -= 1
    assert free.gift_low(LIMITS)
    acct.banned()
    acct.banned()
    assert acct.bans == 2


def test_overdue_counts_only_whole_pieces_beyond_what_was_credited() -> None:
    acct = account(rate=100)
    acct.paid.paid(100)  # one piece credited
    # Two whole pieces sent, one paid: exactly the window unpaid, not overdue.
    assert acct.check_overdue(100.0, 2 * PIECE, True, LIMITS) is None
    assert acct.overdue_since is None
    assert acct.check_overdue(100.0, 2 * PIECE + 1, True, LIMITS) is None
    assert acct.overdue_since == 100.0
    assert acct.check_overdue(109.0, 2 * PIECE + 1, True, LIMITS) is None
    ban = acct.check_overdue(110.0, 2 * PIECE + 1, True, LIMITS)
    assert ban == Ban(
        "127.0.0.9", "Tpayer", "stopped paying: unpaid pieces beyond the credit window"
    )
    acct.banned()
    assert acct.overdue_since is None and acct.failures == 0


def test_gift_and_credit_boundaries() -> None:
    free = account(Mode.FREE, rate=100)
    free.gift = LIMITS.window  # exactly a window ahead of nothing sent: no top-up
    free.top_up_gift(LIMITS)
    assert free.gift == LIMITS.window
    free.paid.paid(100)  # one piece paid for
    free.deliver(0, 3 * PIECE, 4 * PIECE)
    free.top_up_gift(LIMITS)
    assert free.gift == 3 * PIECE + LIMITS.gift_ahead - PIECE  # ahead of sent, less paid
    one = account(Mode.FREE, rate=100)
    one.gift = 1
    assert one.credit() == Credit("127.0.0.9", IH, 1)


def test_a_winner_outbid_is_choked_and_an_unknown_bidder_is_skipped() -> None:
    roster = PayerRoster(LIMITS)
    auction = Auctioneer(IHB, config=AuctioneerConfig(paid_slots=2, optimistic_slots=0), reserve=5)
    z = roster.join("Tz", IH, "127.0.0.5", "x:1", PIECE)
    # "Ta" sorts first among the new winners and is not in the roster: "Tz" is still served.
    auction.submit_bid(Bid(PeerAccount("Ta"), IHB, 70, 1.0))
    auction.submit_bid(Bid(PeerAccount("Tz"), IHB, 60, 1.0))
    roster.apply_round(IH, auction.run_round(1.0))
    assert z.mode is Mode.PAID
    auction.config = AuctioneerConfig(paid_slots=1, optimistic_slots=0)
    auction.submit_bid(Bid(PeerAccount("Tz"), IHB, 10, 2.0))
    roster.apply_round(IH, auction.run_round(2.0))
    assert z.mode is Mode.CHOKED and roster.rate_for("Tz", IH) is None
    assert z.choked_for is ChokeReason.OUTBID  # the reason is the round's, not the default
