"""Tracker bids are hints: a peer whose real bid is far below its claim is exposed, once."""

from __future__ import annotations

import pytest

from client_sdk.tracker.hints import BidHints, Exposed

IH = "ab" * 20


def test_an_honest_bid_passes_and_a_far_lower_one_is_exposed_once() -> None:
    hints = BidHints(min_percent=50)
    hints.claimed(IH, "127.0.0.2", 1000)
    hints.claimed(IH, "127.0.0.3", 1000)
    assert hints.real_bid(IH, "127.0.0.2", 500) is None  # exactly half: still honest
    exposed = hints.real_bid(IH, "127.0.0.3", 499)
    assert exposed == Exposed("127.0.0.3", IH, claimed=1000, real=499)
    assert exposed.why == "tracker claimed a bid of 1000, a real bid of 499"
    assert hints.real_bid(IH, "127.0.0.3", 10) is None  # already judged for this claim


def test_unclaimed_peers_and_other_torrents_are_not_judged() -> None:
    hints = BidHints()
    hints.claimed(IH, "127.0.0.2", 1000)
    assert hints.real_bid(IH, "127.0.0.9", 1) is None
    assert hints.real_bid("cd" * 20, "127.0.0.2", 1) is None


def test_a_new_claim_is_judged_against_the_known_real_bid() -> None:
    hints = BidHints()
    hints.claimed(IH, "127.0.0.2", 100)
    assert hints.real_bid(IH, "127.0.0.2", 100) is None
    assert hints.claimed(IH, "127.0.0.2", 100) is None  # the same claim again
    assert hints.claimed(IH, "127.0.0.2", 500) == Exposed("127.0.0.2", IH, 500, 100)
    assert hints.claimed(IH, "127.0.0.2", 0) is None  # withdrawn: forgotten
    assert hints.claim(IH, "127.0.0.2") == 0


def test_no_real_bid_within_the_grace_exposes_a_connected_claimed_peer() -> None:
    hints = BidHints(grace=30)
    hints.claimed(IH, "127.0.0.2", 100)
    hints.claimed(IH, "127.0.0.3", 100)
    assert hints.connected(IH, ["127.0.0.2", "127.0.0.3", "127.0.0.4"], now=0) == []
    assert hints.real_bid(IH, "127.0.0.3", 90) is None
    assert hints.connected(IH, ["127.0.0.2", "127.0.0.3"], now=30) == []
    assert hints.connected(IH, ["127.0.0.2", "127.0.0.3"], now=31) == [
        Exposed("127.0.0.2", IH, 100, None)
    ]
    assert hints.connected(IH, ["127.0.0.2"], now=40) == []


def test_best_claims_first() -> None:
    hints = BidHints()
    for ip, bid in [("127.0.0.2", 10), ("127.0.0.3", 30), ("127.0.0.4", 20)]:
        hints.claimed(IH, ip, bid)
    assert hints.best(IH, 2) == ["127.0.0.3", "127.0.0.4"]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        BidHints(min_percent=0)


def test_a_real_bid_made_before_the_claim_is_judged_when_the_claim_comes() -> None:
    hints = BidHints()
    assert hints.real_bid(IH, "127.0.0.2", 10) is None
    assert hints.claimed(IH, "127.0.0.2", 10_000) == Exposed("127.0.0.2", IH, 10_000, 10)
    # A claimed peer that did bid is not exposed for "no bid" after the grace.
    hints.claimed(IH, "127.0.0.3", 50)
    hints.real_bid(IH, "127.0.0.3", 50)
    hints.connected(IH, ["127.0.0.3"], now=0)
    assert hints.connected(IH, ["127.0.0.3"], now=1000) == []
