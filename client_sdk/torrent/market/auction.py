"""One choke round's auction, as pure functions: uniform-price multi-unit auction plus the
round-robin optimistic unchoke (whitepaper "BitTorrent Speed", match making).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from client_sdk.torrent.market.bids import PeerAccount


@dataclass(frozen=True, slots=True)
class Contender:
    """A connected peer as the auction sees it in one round."""

    peer: PeerAccount
    bid: int | None
    """Rate per piece in base units; None for a peer that does not bid (plain BitTorrent)."""
    data_received: int = 0
    """Bytes exchanged with the peer since the last round (a seed counts bytes sent)."""
    choked_since: float | None = None
    """When the peer was last choked; None if never unchoked; the round time if unchoked now."""


@dataclass(frozen=True, slots=True)
class Winner:
    peer: PeerAccount
    bid: int
    rate: int


@dataclass(frozen=True, slots=True)
class AuctionOutcome:
    rate: int | None
    """The uniform price every winner pays; None when nobody won."""
    winners: tuple[Winner, ...]
    losers: tuple[PeerAccount, ...]
    """Eligible bidders that did not win, best first."""
    ineligible: tuple[PeerAccount, ...]
    """Bidders below the reserve price."""


def _choked_order(contender: Contender) -> float:
    # Earliest choke first; never unchoked counts as choked forever.
    return -math.inf if contender.choked_since is None else contender.choked_since


def winner_order(contender: Contender) -> tuple[int, int, float, str]:
    """Sort key: highest bid, then most data received, then choked longest, then peer key."""
    bid = -1 if contender.bid is None else contender.bid
    return (-bid, -contender.data_received, _choked_order(contender), contender.peer)


def optimistic_order(contender: Contender) -> tuple[float, int, str]:
    """Sort key: choked longest (round robin); the bid only breaks ties, then the peer key."""
    bid = -1 if contender.bid is None else contender.bid
    return (_choked_order(contender), -bid, contender.peer)


def run_auction(contenders: Iterable[Contender], *, slots: int, reserve: int) -> AuctionOutcome:
    """Multi-unit uniform-price auction: the best `slots` eligible bids win and all pay
    max(highest losing eligible bid, reserve). Bids below the reserve neither win nor set the price.
    """
    if slots < 0 or reserve < 0:
        raise ValueError("slots and reserve must not be negative")
    eligible: list[Contender] = []
    ineligible: list[PeerAccount] = []
    for contender in contenders:
        if contender.bid is None:
            continue
        if contender.bid >= reserve:
            eligible.append(contender)
        else:
            ineligible.append(contender.peer)
    eligible.sort(key=winner_order)
    top, rest = eligible[:slots], eligible[slots:]
    losers = tuple(c.peer for c in rest)
    if not top:
        return AuctionOutcome(None, (), losers, tuple(sorted(ineligible)))
    rate = reserve if not rest else max(reserve, _bid(rest[0]))
    winners = tuple(Winner(c.peer, _bid(c), rate) for c in top)
    return AuctionOutcome(rate, winners, losers, tuple(sorted(ineligible)))


def _bid(contender: Contender) -> int:
    assert contender.bid is not None
    return contender.bid


def choose_optimistic(candidates: Iterable[Contender], *, count: int) -> tuple[PeerAccount, ...]:
    """The `count` peers choked longest; among equally long choked ones the higher bid wins."""
    return tuple(c.peer for c in sorted(candidates, key=optimistic_order)[:count])
