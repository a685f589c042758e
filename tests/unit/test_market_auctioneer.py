from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.torrent.market import (
    ActionKind,
    Auctioneer,
    AuctioneerConfig,
    Bid,
    BidRejection,
    InfoHash,
    PeerAccount,
    RoundResult,
    Trigger,
)

IH = InfoHash(b"\x01" * 20)


def make(paid: int = 2, optimistic: int = 0, every: int = 1, reserve: int = 0) -> Auctioneer:
    config = AuctioneerConfig(paid_slots=paid, optimistic_slots=optimistic, optimistic_every=every)
    return Auctioneer(IH, config=config, reserve=reserve)


def bid(a: Auctioneer, peer: str, rate: int, at: float = 0.0) -> None:
    assert a.submit_bid(Bid(PeerAccount(peer), IH, rate, at)) is None


def kinds(result: RoundResult) -> dict[str, ActionKind]:
    return {action.peer: action.kind for action in result.actions}


def test_new_winners_get_response_then_unchoke() -> None:
    a = make(paid=2)
    bid(a, "a", 50)
    bid(a, "b", 30)
    bid(a, "c", 20)
    result = a.run_round(1000.0)
    assert kinds(result) == {
        "a": ActionKind.RESPOND_THEN_UNCHOKE,
        "b": ActionKind.RESPOND_THEN_UNCHOKE,
    }
    response = result.actions[0].response
    assert response is not None
    assert response.rate_per_piece_units == 20
    assert response.info_hash == IH
    assert result.outcome.losers == ("c",)


def test_unchanged_round_has_no_actions() -> None:
    a = make()
    bid(a, "a", 50)
    a.run_round(1.0)
    a.timer_tick()
    assert a.run_round(2.0).actions == ()


def test_rate_change_chokes_then_responds() -> None:
    a = make(paid=1)
    bid(a, "a", 50)
    bid(a, "b", 20)
    assert a.run_round(1.0).rate == 20
    bid(a, "b", 30, at=1.0)  # the loser raises: a's price rises
    result = a.run_round(2.0)
    assert kinds(result) == {"a": ActionKind.CHOKE_RESPOND_UNCHOKE}
    assert result.actions[0].response is not None
    assert result.actions[0].response.rate_per_piece_units == 30


def test_winner_replaced_is_choked_first() -> None:
    a = make(paid=1)
    bid(a, "a", 50)
    a.run_round(1.0)
    bid(a, "b", 60)
    result = a.run_round(2.0)
    assert [(x.peer, x.kind) for x in result.actions] == [
        ("a", ActionKind.CHOKE),
        ("b", ActionKind.RESPOND_THEN_UNCHOKE),
    ]
    assert result.rate == 50


def test_reserve_change_triggers_and_reprices() -> None:
    a = make(paid=2)
    bid(a, "a", 50)
    bid(a, "b", 10)
    a.run_round(1.0)
    a.set_reserve(20)
    assert a.pending == {Trigger.RESERVE}
    result = a.run_round(2.0)
    assert result.triggers == {Trigger.RESERVE}
    assert kinds(result) == {"a": ActionKind.CHOKE_RESPOND_UNCHOKE, "b": ActionKind.CHOKE}
    assert result.rate == 20
    assert a.pending == frozenset()


def test_peer_leaving_triggers_and_lowers_price() -> None:
    a = make(paid=1)
    bid(a, "a", 50)
    bid(a, "b", 30)
    a.run_round(1.0)
    a.remove_peer(PeerAccount("b"))
    assert a.pending == frozenset()  # b was choked: nothing changes for the unchoked
    a.remove_peer(PeerAccount("a"))
    assert a.pending == {Trigger.PEER_LEFT}
    assert a.run_round(2.0).actions == ()


def test_same_bid_again_is_no_trigger() -> None:
    a = make()
    bid(a, "a", 50)
    a.run_round(1.0)
    bid(a, "a", 50, at=5.0)
    assert a.pending == frozenset()
    bid(a, "a", 51, at=6.0)
    assert a.pending == {Trigger.BID}


@pytest.mark.parametrize(
    ("submitted", "reason"),
    [
        (Bid(PeerAccount("a"), InfoHash(b"\x02" * 20), 5, 10.0), BidRejection.WRONG_TORRENT),
        (Bid(PeerAccount("a"), IH, -1, 10.0), BidRejection.INVALID_RATE),
        (Bid(PeerAccount("a"), IH, 10**19, 10.0), BidRejection.INVALID_RATE),
        (Bid(PeerAccount("a"), IH, 7, 9.0), BidRejection.STALE),
    ],
)
def test_bid_rejections(submitted: Bid, reason: BidRejection) -> None:
    a = make()
    bid(a, "a", 5, at=10.0)
    rejected = a.submit_bid(submitted)
    assert rejected is not None
    assert rejected.reason is reason
    assert a.bids[PeerAccount("a")].rate_per_piece_units == 5


def test_withdrawn_bid_chokes_the_winner() -> None:
    a = make()
    bid(a, "a", 5)
    a.run_round(1.0)
    a.withdraw_bid(PeerAccount("a"))
    assert kinds(a.run_round(2.0)) == {"a": ActionKind.CHOKE}


def test_optimistic_is_free_and_not_auctioned_to_winners() -> None:
    a = make(paid=1, optimistic=1)
    bid(a, "a", 50)
    bid(a, "b", 40)
    a.add_peer(PeerAccount("plain"))
    a.timer_tick()
    result = a.run_round(1.0)
    assert [w.peer for w in result.outcome.winners] == ["a"]
    # Both never unchoked: the bid breaks the tie, so b (40) beats the non-bidder.
    assert result.optimistic == ("b",)
    assert kinds(result)["b"] is ActionKind.UNCHOKE
    assert next(x for x in result.actions if x.peer == "b").response is None


def test_optimistic_rotates_round_robin_fairly() -> None:
    a = make(paid=1, optimistic=1, every=1)
    bid(a, "w", 100)
    others = [f"p{i}" for i in range(5)]
    for peer in others:
        a.add_peer(PeerAccount(peer))
    picks: list[str] = []
    for second in range(15):
        a.timer_tick()
        result = a.run_round(float(second))
        assert len(result.optimistic) == 1
        assert "w" not in result.optimistic
        picks.append(result.optimistic[0])
    assert Counter(picks) == dict.fromkeys(others, 3)
    assert picks[:5] == picks[5:10] == picks[10:]  # strict round robin
    assert len(set(picks[:5])) == 5


def test_optimistic_rotates_only_on_timer_rounds() -> None:
    a = make(paid=0, optimistic=1, every=2)
    for peer in ("a", "b", "c"):
        a.add_peer(PeerAccount(peer))
    a.timer_tick()
    first = a.run_round(1.0).optimistic
    bid(a, "c", 5)  # a bid-triggered round keeps the optimistic peer
    assert a.run_round(2.0).optimistic == first
    a.timer_tick()
    assert a.run_round(3.0).optimistic == first  # every=2: second timer round keeps it
    a.timer_tick()
    assert a.run_round(4.0).optimistic != first


def test_optimistic_peer_that_wins_starts_paying() -> None:
    a = make(paid=1, optimistic=1)
    bid(a, "a", 50)
    bid(a, "b", 10)
    a.timer_tick()
    assert a.run_round(1.0).optimistic == ("b",)
    bid(a, "b", 60, at=1.0)
    result = a.run_round(2.0)
    assert [w.peer for w in result.outcome.winners] == ["b"]
    assert kinds(result)["b"] is ActionKind.CHOKE_RESPOND_UNCHOKE
    assert result.optimistic == ("a",)
    # a was paying and stays unchoked for free: tell it the new rate, 0.
    assert kinds(result)["a"] is ActionKind.SEND_BID_RESPONSE
    response = next(x for x in result.actions if x.peer == "a").response
    assert response is not None
    assert response.rate_per_piece_units == 0


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["bid", "leave", "reserve", "tick"]),
            st.sampled_from(["a", "b", "c", "d", "e"]),
            st.integers(0, 100),
        ),
        max_size=30,
    )
)
def test_actions_replay_to_the_reported_state(steps: list[tuple[str, str, int]]) -> None:
    """Applying each round's actions to the previous view gives exactly the new unchoked set,
    every paid peer's latest response carries the round rate, and no winner pays above its bid."""
    a = make(paid=2, optimistic=1, every=2)
    unchoked: dict[str, int] = {}
    for i, (op, peer, value) in enumerate(steps):
        if op == "bid":
            a.submit_bid(Bid(PeerAccount(peer), IH, value, float(i)))
        elif op == "leave":
            a.remove_peer(PeerAccount(peer))
            unchoked.pop(peer, None)
        elif op == "reserve":
            a.set_reserve(value)
        else:
            a.timer_tick()
        result = a.run_round(float(i))
        for action in result.actions:
            if action.kind is ActionKind.CHOKE:
                assert action.peer in unchoked
                del unchoked[action.peer]
            elif action.kind is ActionKind.UNCHOKE:
                assert action.peer not in unchoked
                unchoked[action.peer] = 0
            else:
                assert action.response is not None
                unchoked[action.peer] = action.response.rate_per_piece_units
        assert set(unchoked) == result.unchoked
        for w in result.outcome.winners:
            assert unchoked[w.peer] == result.rate
            assert w.rate <= a.bids[w.peer].rate_per_piece_units
            assert w.rate >= a.reserve
        assert not set(result.optimistic) & {w.peer for w in result.outcome.winners}
