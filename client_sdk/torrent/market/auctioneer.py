"""The payee's per-torrent auction state across choke rounds: current bids, who is unchoked at
what rate, and the per-peer actions that turn the last round's outcome into the next one's.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from client_sdk.torrent.market.auction import (
    AuctionOutcome,
    Contender,
    choose_optimistic,
    run_auction,
)
from client_sdk.torrent.market.bids import (
    MAX_RATE_UNITS,
    Bid,
    BidResponse,
    InfoHash,
    PeerAccount,
)


class Trigger(enum.Enum):
    """Why a round is due. Only TIMER rounds rotate the optimistic slot."""

    TIMER = "TIMER"
    BID = "BID"
    PEER_LEFT = "PEER_LEFT"
    RESERVE = "RESERVE"


class BidRejection(enum.Enum):
    WRONG_TORRENT = "WRONG_TORRENT"
    INVALID_RATE = "INVALID_RATE"
    STALE = "STALE"
    TOO_FREQUENT = "TOO_FREQUENT"


@dataclass(frozen=True, slots=True)
class BidRefused:
    reason: BidRejection
    detail: str


class ActionKind(enum.Enum):
    CHOKE = "CHOKE"
    UNCHOKE = "UNCHOKE"
    """Free (optimistic) unchoke: no bid-response."""
    RESPOND_THEN_UNCHOKE = "RESPOND_THEN_UNCHOKE"
    """A new winner: send the bid-response, then unchoke."""
    CHOKE_RESPOND_UNCHOKE = "CHOKE_RESPOND_UNCHOKE"
    """An unchoked peer's rate changed: choke (reject queued requests), respond, unchoke."""
    SEND_BID_RESPONSE = "SEND_BID_RESPONSE"
    """A paying peer stays unchoked for free (optimistic): tell it the rate is now 0."""


# Chokes go first so that slots are freed before new peers are let in.
_ACTION_ORDER = {kind: i for i, kind in enumerate(ActionKind)}


@dataclass(frozen=True, slots=True)
class PeerAction:
    peer: PeerAccount
    kind: ActionKind
    response: BidResponse | None = None


@dataclass(frozen=True, slots=True)
class AuctioneerConfig:
    paid_slots: int = 4
    optimistic_slots: int = 1
    optimistic_every: int = 3
    """Rotate the optimistic slot every this many TIMER rounds (3 x 10 s, as in BitTorrent)."""

    def __post_init__(self) -> None:
        if self.paid_slots < 0 or self.optimistic_slots < 0 or self.optimistic_every < 1:
            raise ValueError("slots must be >= 0 and optimistic_every >= 1")


@dataclass(frozen=True, slots=True)
class RoundResult:
    at: float
    triggers: frozenset[Trigger]
    outcome: AuctionOutcome
    optimistic: tuple[PeerAccount, ...]
    actions: tuple[PeerAction, ...]

    @property
    def rate(self) -> int | None:
        return self.outcome.rate

    @property
    def unchoked(self) -> frozenset[PeerAccount]:
        return frozenset(w.peer for w in self.outcome.winners) | frozenset(self.optimistic)


_FREE = 0


class Auctioneer:
    """Holds one seeded torrent's bids and last outcome. Pure: time is passed in."""

    def __init__(
        self,
        info_hash: InfoHash,
        *,
        config: AuctioneerConfig | None = None,
        reserve: int = 0,
    ) -> None:
        self.info_hash = info_hash
        self.config = config or AuctioneerConfig()
        self._reserve = _checked_reserve(reserve)
        self._peers: set[PeerAccount] = set()
        self._bids: dict[PeerAccount, Bid] = {}
        # Unchoked peers -> rate they pay (0 when unchoked for free).
        self._unchoked: dict[PeerAccount, int] = {}
        self._optimistic: tuple[PeerAccount, ...] = ()
        self._choked_at: dict[PeerAccount, float] = {}
        self._pending: set[Trigger] = set()
        self._timer_rounds = 0
        self.last: RoundResult | None = None

    @property
    def reserve(self) -> int:
        return self._reserve

    @property
    def pending(self) -> frozenset[Trigger]:
        """Triggers seen since the last round; non-empty means a round is due."""
        return frozenset(self._pending)

    @property
    def bids(self) -> Mapping[PeerAccount, Bid]:
        return dict(self._bids)

    def add_peer(self, peer: PeerAccount) -> None:
        """A connected peer with no bid yet: it can only get the optimistic slot."""
        self._peers.add(peer)

    def submit_bid(self, bid: Bid) -> BidRefused | None:
        if bid.info_hash != self.info_hash:
            return BidRefused(BidRejection.WRONG_TORRENT, "bid is for another torrent")
        if not 0 <= bid.rate_per_piece_units <= MAX_RATE_UNITS:
            return BidRefused(BidRejection.INVALID_RATE, "rate out of range")
        current = self._bids.get(bid.bidder)
        if current is not None and bid.at < current.at:
            return BidRefused(BidRejection.STALE, "a later bid from this peer is in force")
        self._peers.add(bid.bidder)
        self._bids[bid.bidder] = bid
        if current is None or current.rate_per_piece_units != bid.rate_per_piece_units:
            self._pending.add(Trigger.BID)
        return None

    def withdraw_bid(self, peer: PeerAccount) -> None:
        if self._bids.pop(peer, None) is not None:
            self._pending.add(Trigger.BID)

    def remove_peer(self, peer: PeerAccount) -> None:
        self._peers.discard(peer)
        self._bids.pop(peer, None)
        self._choked_at.pop(peer, None)
        if self._unchoked.pop(peer, None) is not None:
            self._pending.add(Trigger.PEER_LEFT)
        self._optimistic = tuple(p for p in self._optimistic if p != peer)

    def set_reserve(self, reserve: int) -> None:
        reserve = _checked_reserve(reserve)
        if reserve != self._reserve:
            self._reserve = reserve
            self._pending.add(Trigger.RESERVE)

    def timer_tick(self) -> None:
        self._pending.add(Trigger.TIMER)

    def run_round(
        self, now: float, data_received: Mapping[PeerAccount, int] | None = None
    ) -> RoundResult:
        """Re-auction now. Call on every choke timer (after `timer_tick`) and whenever
        `pending` is non-empty. `data_received` holds bytes per peer since the last round.
        """
        data = data_received or {}
        triggers = frozenset(self._pending)
        self._pending.clear()
        contenders = [self._contender(peer, now, data.get(peer, 0)) for peer in self._peers]
        outcome = run_auction(contenders, slots=self.config.paid_slots, reserve=self._reserve)
        winners = {w.peer: w.rate for w in outcome.winners}
        optimistic = self._next_optimistic(contenders, winners, Trigger.TIMER in triggers)

        new_state = dict(winners)
        new_state.update(dict.fromkeys(optimistic, _FREE))
        actions = self._diff(new_state, winners)
        for peer in self._unchoked.keys() - new_state.keys():
            self._choked_at[peer] = now
        self._unchoked = new_state
        self._optimistic = optimistic
        self.last = RoundResult(now, triggers, outcome, optimistic, actions)
        return self.last

    def _contender(self, peer: PeerAccount, now: float, data: int) -> Contender:
        bid = self._bids.get(peer)
        choked_since = now if peer in self._unchoked else self._choked_at.get(peer)
        rate = None if bid is None else bid.rate_per_piece_units
        return Contender(peer, rate, data, choked_since)

    def _next_optimistic(
        self, contenders: list[Contender], winners: Mapping[PeerAccount, int], timer: bool
    ) -> tuple[PeerAccount, ...]:
        count = self.config.optimistic_slots
        if timer:
            self._timer_rounds += 1
        rotate = timer and (self._timer_rounds - 1) % self.config.optimistic_every == 0
        kept = () if rotate else tuple(p for p in self._optimistic if p not in winners)
        candidates = [c for c in contenders if c.peer not in winners and c.peer not in kept]
        return kept + choose_optimistic(candidates, count=count - len(kept))

    def _diff(
        self, new_state: Mapping[PeerAccount, int], winners: Mapping[PeerAccount, int]
    ) -> tuple[PeerAction, ...]:
        actions: list[PeerAction] = []
        for peer in self._unchoked.keys() - new_state.keys():
            actions.append(PeerAction(peer, ActionKind.CHOKE))
        for peer, rate in new_state.items():
            was = self._unchoked.get(peer)
            paid = peer in winners
            if was is None:
                kind = ActionKind.RESPOND_THEN_UNCHOKE if paid else ActionKind.UNCHOKE
            elif paid and (was != rate or peer in self._optimistic):
                kind = ActionKind.CHOKE_RESPOND_UNCHOKE
            elif not paid and peer not in self._optimistic:
                kind = ActionKind.SEND_BID_RESPONSE
            else:
                continue
            response = None if kind is ActionKind.UNCHOKE else BidResponse(self.info_hash, rate)
            actions.append(PeerAction(peer, kind, response))
        actions.sort(key=lambda a: (_ACTION_ORDER[a.kind], a.peer))
        return tuple(actions)


def _checked_reserve(reserve: int) -> int:
    if not 0 <= reserve <= MAX_RATE_UNITS:
        raise ValueError("reserve out of range")
    return reserve
