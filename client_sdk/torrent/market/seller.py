"""The payee's market for one seeded torrent: auction, reserve price and proof of possession
wired together, re-auctioning on every trigger. The seeder turns the returned values into
messages and libtorrent choke/unchoke calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from client_sdk.torrent.market.auctioneer import Auctioneer, BidRefused, BidRejection, RoundResult
from client_sdk.torrent.market.bids import Bid, InfoHash, PeerAccount
from client_sdk.torrent.market.possession import (
    Challenge,
    PossessionChallenger,
    Proof,
    ProofAccepted,
    ProofRejected,
)
from client_sdk.torrent.market.reserve import ReservePrice


@dataclass(frozen=True, slots=True)
class ReserveAnnouncement:
    """The reserve-price message: sent on connect, and to all peers when either part changes."""

    info_hash: InfoHash
    reserve_price: int
    challenge: Challenge


@dataclass(frozen=True, slots=True)
class ProofOutcome:
    verdict: ProofAccepted | ProofRejected
    announcement: ReserveAnnouncement | None
    round: RoundResult | None


class SellerMarket:
    def __init__(
        self,
        auctioneer: Auctioneer,
        reserve: ReservePrice,
        challenger: PossessionChallenger,
        *,
        min_bid_interval_s: float = 10.0,
    ) -> None:
        self.auctioneer = auctioneer
        self.reserve = reserve
        self.challenger = challenger
        self.min_bid_interval_s = min_bid_interval_s
        self._last_bid_at: dict[PeerAccount, float] = {}
        self._announced: tuple[int, Challenge] | None = None

    @property
    def info_hash(self) -> InfoHash:
        return self.auctioneer.info_hash

    def announcement(self, now: float) -> ReserveAnnouncement:
        """For a newly connected peer."""
        return ReserveAnnouncement(self.info_hash, self.reserve.price(now), self.challenger.current)

    def choke_round(
        self, now: float, data_received: Mapping[PeerAccount, int] | None = None
    ) -> tuple[RoundResult, ReserveAnnouncement | None]:
        """The periodic round (every ~10 s): refresh the reserve, then re-auction."""
        announcement = self._refresh(now)
        self.auctioneer.timer_tick()
        return self.auctioneer.run_round(now, data_received), announcement

    def on_bid(self, bid: Bid, now: float) -> BidRefused | RoundResult | None:
        """A bid arrived; returns the rejection, or the round it triggered, or None if unchanged.

        A peer may change its bid at most once per `min_bid_interval_s`: each change can
        reprice every winner (choke, respond, unchoke), so bid churn must not be free.
        """
        last = self._last_bid_at.get(bid.bidder)
        current = self.auctioneer.bids.get(bid.bidder)
        changes = current is None or current.rate_per_piece_units != bid.rate_per_piece_units
        if changes and last is not None and now - last < self.min_bid_interval_s:
            return BidRefused(BidRejection.TOO_FREQUENT, "bid changed too soon")
        self._refresh(now)  # the round this bid may trigger uses the reserve in force now
        rejected = self.auctioneer.submit_bid(bid)
        if rejected is not None:
            return rejected
        if changes:
            self._last_bid_at[bid.bidder] = now
        return self._round_if_pending(now)

    def on_peer_joined(self, peer: PeerAccount) -> None:
        self.auctioneer.add_peer(peer)

    def on_peer_left(self, peer: PeerAccount, now: float) -> RoundResult | None:
        self.auctioneer.remove_peer(peer)
        self._last_bid_at.pop(peer, None)
        return self._round_if_pending(now)

    def on_upload(self, piece: int, chunk: int, now: float) -> ReserveAnnouncement | None:
        """Every uploaded 16 KiB block; a new challenge must be announced when one is returned."""
        if self.challenger.record_upload(piece, chunk, now) is None:
            return None
        return self._refresh(now)

    def on_proof(self, proof: Proof, now: float) -> ProofOutcome:
        verdict = self.challenger.verify(proof, now)
        if isinstance(verdict, ProofRejected):
            return ProofOutcome(verdict, None, None)
        self.reserve.possession_proven(now)
        announcement = self._refresh(now)
        return ProofOutcome(verdict, announcement, self._round_if_pending(now))

    def set_fixed_reserve(
        self, units: int | None, now: float
    ) -> tuple[ReserveAnnouncement | None, RoundResult | None]:
        """The user's reserve price (None: back to the growth schedule); re-auctions at once."""
        self.reserve.set_fixed(units)
        announcement = self._refresh(now)
        return announcement, self._round_if_pending(now)

    def _refresh(self, now: float) -> ReserveAnnouncement | None:
        price = self.reserve.price(now)
        self.auctioneer.set_reserve(price)
        state = (price, self.challenger.current)
        if state == self._announced:
            return None
        self._announced = state
        return ReserveAnnouncement(self.info_hash, price, self.challenger.current)

    def _round_if_pending(self, now: float) -> RoundResult | None:
        return self.auctioneer.run_round(now) if self.auctioneer.pending else None
