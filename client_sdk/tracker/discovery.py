"""Finding each other through trackers: what a paid seller and a buyer do with the bid extensions.

libtorrent announces every torrent on its own and connects to the peers it hears of, so plain
(free) peers need nothing here. On top of that, per torrent:

- `SellerDiscovery` announces where the payee service listens and asks for the highest bidders
  at or above the reserve price; it connects to them first, and checks their tracker bids against
  the bids they really make (`BidHints`): a peer far below its claim is dropped.
- `BuyerDiscovery` announces the current bid and hands every paid seeder it hears of (a peer with
  a payee port) to the downloader, which bids there and opens a channel.

Both run on the event loop of the component they serve; the component is reached through a
small protocol, so this module needs nothing from libtorrent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from client_sdk.tracker.announcer import BidAnnouncer, Offer
from client_sdk.tracker.hints import BidHints, Exposed
from client_sdk.tracker.wire import AnnounceReply

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]

# Connect to at most this many of the highest bidders a tracker lists, per answer.
CONNECT_BEST = 16


class Seller(Protocol):
    def connect(self, info_hash: str, peers: Sequence[Endpoint]) -> None: ...
    def connected_ips(self, info_hash: str) -> Iterable[str]: ...
    def drop(self, info_hash: str, ip: str, why: str) -> None: ...


class Buyer(Protocol):
    def found_seller(self, info_hash: str, bt: Endpoint, payee: str) -> None: ...
    def found_peers(self, info_hash: str, peers: Sequence[Endpoint]) -> None: ...


class SellerDiscovery:
    def __init__(
        self,
        seller: Seller,
        local_ip: str,
        bt_port: int,
        payee_port: int,
        *,
        hints: BidHints | None = None,
        clock: Callable[[], float],
    ) -> None:
        self._seller = seller
        self._payee_port = payee_port
        self.hints = hints or BidHints()
        self._clock = clock
        self.announcer = BidAnnouncer(local_ip, bt_port, self._on_reply)
        self.exposed: list[Exposed] = []

    def add_torrent(self, info_hash: str, trackers: Sequence[str], reserve: int) -> bool:
        """Announce a seeded torrent; False when it names no HTTP tracker."""
        offer = Offer(payee_port=self._payee_port, bid_order=True, bid_min=reserve)
        return self.announcer.track(bytes.fromhex(info_hash), trackers, lambda: 0, offer)

    def set_reserve(self, info_hash: str, reserve: int) -> None:
        self.announcer.update(bytes.fromhex(info_hash), bid_min=reserve)

    def start(self) -> None:
        self.announcer.start()

    async def stop(self) -> None:
        await self.announcer.stop()

    def real_bid(self, info_hash: str, ip: str, units: int) -> None:
        """A peer bid over the payee service (service loop)."""
        self._judge(self.hints.real_bid(info_hash, ip, units))

    def tick(self) -> None:
        """Peers that claimed a bid and made none within the grace are dropped."""
        now = self._clock()
        for ih in {ih.hex() for ih in self.announcer.torrents}:
            for exposed in self.hints.connected(ih, self._seller.connected_ips(ih), now):
                self._judge(exposed)

    def _on_reply(self, info_hash: bytes, url: str, reply: AnnounceReply) -> None:
        ih = info_hash.hex()
        for peer in reply.bid_peers:
            self._judge(self.hints.claimed(ih, peer.ip, peer.bid))
        best = [p for p in reply.bid_peers if p.bid > 0][:CONNECT_BEST]
        if best:
            self._seller.connect(ih, [(p.ip, p.port) for p in best])

    def _judge(self, exposed: Exposed | None) -> None:
        if exposed is None:
            return
        self.exposed.append(exposed)
        log.warning("dropping %s on %s: %s", exposed.ip, exposed.info_hash[:16], exposed.why)
        self._seller.drop(exposed.info_hash, exposed.ip, exposed.why)


class BuyerDiscovery:
    def __init__(self, buyer: Buyer, local_ip: str, bt_port: int) -> None:
        self._buyer = buyer
        self.announcer = BidAnnouncer(local_ip, bt_port, self._on_reply)

    def add_torrent(
        self, info_hash: str, trackers: Sequence[str], left: Callable[[], int], bid: int | None
    ) -> bool:
        return self.announcer.track(bytes.fromhex(info_hash), trackers, left, Offer(bid=bid or 0))

    def set_bid(self, info_hash: str, bid: int) -> None:
        self.announcer.update(bytes.fromhex(info_hash), bid=bid)

    def start(self) -> None:
        self.announcer.start()

    async def stop(self) -> None:
        await self.announcer.stop()

    def _on_reply(self, info_hash: bytes, url: str, reply: AnnounceReply) -> None:
        ih = info_hash.hex()
        for peer in reply.bid_peers:
            if peer.payee is not None:
                self._buyer.found_seller(ih, (peer.ip, peer.port), peer.payee)
        if reply.peers:
            self._buyer.found_peers(ih, reply.peers)
