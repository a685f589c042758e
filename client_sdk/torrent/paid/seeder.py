"""PaidSeeder: a gated libtorrent `Seeder`, the payee gRPC service and the bid market, joined.

The decisions are pure and live elsewhere: the market (`client_sdk.torrent.market`) runs the
auction, the reserve price and the possession challenges; the `PayerRoster` (`payers.py`) keeps
each payer's account and the rate in force, and says what to credit, reprice and ban. This
module only wires them to libtorrent and the payee service.

Threads: libtorrent's alert thread calls `_on_delivered`; everything that touches the book,
the markets or the service runs on one private event loop (`LoopThread`), reached from the alert
thread with `soon`. The roster is shared by both and guarded by `_lock`.

Per payer and torrent, keyed by its ledger account:
- a bid carries its BitTorrent endpoint; its IP is admitted to the gate before it connects;
- the auction's actions set its mode: PAID (a winner: its payments are credited to the gate),
  FREE (the optimistic slot: the gate is credited with a gift that keeps ahead of deliveries),
  CHOKED (nothing new is credited, so the gate throttles it after the exposure bound). libtorrent's
  Python bindings cannot choke one peer, so a choke is this soft one: it leaks at most the
  gate's window + in-flight allowance;
- every accepted payment raises the bytes it paid for (`PaidBytes`) and credits the gate as soon
  as its signature is verified, before the payee book commits it (see `PayeeBook.on_accepted`);
- every change of its service (mode, rate, credit) is pushed on its Watch stream, so an honest
  payer requests only what the window lets out (`credit_limit`) and is never throttled;
- every piece queued to it whole counts as delivered in the book (`PayeeBook.delivered`);
- refused updates (bad signature, stale, over the deposit...) count as failures: after
  `max_payment_failures` it is banned. A PAID peer that stays throttled with more than the
  window unpaid for `payment_timeout` seconds (it stopped paying) is banned too.

Peers that never bid (legacy clients) have no peer class: libtorrent's own choker serves them
round robin in `optimistic_slots` unchoke slots, plus every paid slot the auctions left unsold
under `LegacyPeers.SERVE` (payers' classes are exempt from that choker). Each torrent has its own
reserve price and market. With trackers in its torrents, the seeder announces where its payee
service listens and its reserve (`SellerDiscovery`), connects to the highest bidders they list,
and drops a peer whose real bid is far below its tracker bid.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import libtorrent as lt

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel import CheckpointPolicy, PayeeBook, PayeeStore, PayeeTerms
from client_sdk.channel.payee import PayeeChannel
from client_sdk.channel.store import PayeeRecord
from client_sdk.ledger_client import AsyncLedgerClient, LedgerError
from client_sdk.p2p import PayeeServer
from client_sdk.torrent.access import LegacyPeers, UnknownPeerPolicy
from client_sdk.torrent.market import (
    CHUNK_SIZE,
    NO_GROWTH,
    Auctioneer,
    AuctioneerConfig,
    Bid,
    BidRefused,
    InfoHash,
    PeerAccount,
    PossessionChallenger,
    ReservePrice,
    RoundResult,
    SellerMarket,
    TorrentGeometry,
)
from client_sdk.torrent.market.reserve import Growth
from client_sdk.torrent.paid.chunks import chunk_reader
from client_sdk.torrent.paid.loop import LoopThread
from client_sdk.torrent.paid.market_rpc import MarketHandlers
from client_sdk.torrent.paid.payers import (
    Announce,
    Ban,
    ChokeReason,
    Credit,
    Limits,
    Mode,
    PayerAccount,
    PayerRoster,
    Reprice,
    Service,
    choke_reason,
)
from client_sdk.torrent.paid.seed_report import seeder_stats
from client_sdk.torrent.paid.watch import ServiceWatch
from client_sdk.torrent.peers import PeerKey
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import DEFAULT_PIECE_SIZE, Geometry
from client_sdk.tracker.discovery import SellerDiscovery
from client_sdk.tracker.hints import BidHints
from core.clock import Clock, SystemClock
from core.crypto import SigningKey
from core.status import ChannelStatus

log = logging.getLogger(__name__)

# A free (optimistic) peer's gift stays this many pieces ahead of what it was sent.
GIFT_AHEAD_PIECES = 4


@dataclass(frozen=True, slots=True)
class PaidSeederConfig:
    paid_slots: int = 4
    optimistic_slots: int = 1
    optimistic_every: int = 3
    reserve: int | None = None
    """Fixed reserve price (units per piece); None follows `reserve_growth` from zero."""
    reserve_growth: Growth = NO_GROWTH
    window: int = DEFAULT_PIECE_SIZE
    """Credit window: unpaid whole-piece bytes served ahead of payment (one piece: whitepaper)."""
    inflight: int = DEFAULT_PIECE_SIZE
    choke_interval: float = 10.0
    min_bid_interval: float = 10.0
    ban_seconds: float = 300.0
    max_payment_failures: int = 5
    max_forgiven_pieces: int = 4
    """Failed pieces per payer whose blocks are forgiven rather than left unpaid forever."""
    payment_timeout: float = 10.0
    tick: float = 0.1
    upload_limit: int = 0
    """Bytes/s for the whole seeder (0: unlimited)."""
    terms: PayeeTerms = field(default_factory=PayeeTerms)
    checkpoint: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    legacy_peers: LegacyPeers = LegacyPeers.SERVE
    """Peers that never bid: served in the optimistic slot and unsold paid slots (SERVE), in
    the optimistic slot only (OPTIMISTIC), or not at all (BLOCK)."""
    dht: bool = False
    """Find peers through the DHT too (public swarms); trackers and `connect` otherwise."""
    hint_min_percent: int = 50
    """A peer whose real bid is below this percentage of its tracker bid is dropped."""
    hint_grace: float = 30.0
    """Seconds a connected peer with a tracker bid may take to make its real bid."""

    def limits(self, piece_length: int) -> Limits:
        return Limits(
            window=self.window,
            gift_ahead=GIFT_AHEAD_PIECES * piece_length,
            max_forgiven=self.max_forgiven_pieces * piece_length,
            max_payment_failures=self.max_payment_failures,
            payment_timeout=self.payment_timeout,
        )


@dataclass
class _Torrent:
    info_hash: str
    geometry: Geometry
    market: SellerMarket
    payers: PayerRoster
    trackers: list[str] = field(default_factory=list)
    unsold: int = 0
    """Paid slots the last round left unsold (lent to legacy peers under SERVE)."""


class _AuctionRates:
    """The payee service's view of the rates: bids go to the auction, rates come from the
    roster that the auction's rounds write."""

    def __init__(self, seeder: PaidSeeder) -> None:
        self._seeder = seeder

    def bid(self, request: ppb.BidRequest) -> int | None:
        return self._seeder._enter_bid(request)

    def rate_for(self, payer: str, info_hash: str) -> int | None:
        t = self._seeder._torrents.get(info_hash)
        if t is None:
            return None
        with self._seeder._lock:
            return t.payers.rate_for(payer, info_hash)

    def refusal(self, payer: str, info_hash: str) -> str:
        t = self._seeder._torrents.get(info_hash)
        if t is None:
            return "UNKNOWN_TORRENT"
        refused = self._seeder._refused.pop((payer, info_hash), "")
        if refused:
            return refused
        with self._seeder._lock:
            acct = t.payers.get(payer, info_hash)
            if acct is None or acct.mode is Mode.PAID:
                return ""
        last = t.market.auctioneer.last
        if last is None:
            return ChokeReason.NO_BID.value
        return choke_reason(PeerAccount(payer), last).value


class PaidSeeder:
    """Seeds torrents for pay. `add()` torrents, `start()`, then share `bt_endpoint` and
    `payee_target`; `stop()` closes every channel with its best state."""

    def __init__(
        self,
        ip: str,
        key: SigningKey,
        ledger_target: str,
        store_path: Path,
        *,
        port: int = 0,
        payee_port: int = 0,
        config: PaidSeederConfig | None = None,
        ledger_clock: Clock | None = None,
        market_clock: Callable[[], float] = time.time,
        ledger_ca_cert: Path | None = None,
        payee_credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        """`ledger_ca_cert`: the ledger serves TLS with a certificate from this CA;
        `payee_credentials`: the payee service serves TLS."""
        self.config = config or PaidSeederConfig()
        self.key = key
        self.ip = ip
        self._ledger_target = ledger_target
        self._ledger_ca_cert = ledger_ca_cert
        self._payee_credentials = payee_credentials
        self._store_path = store_path
        self._payee_port = payee_port
        self._ledger_clock = ledger_clock or SystemClock()
        self._clock = market_clock
        self.seeder = Seeder(
            ip,
            port,
            gating=True,
            window=self.config.window,
            inflight=self.config.inflight,
            unknown_peers=(
                UnknownPeerPolicy.BLOCK
                if self.config.legacy_peers is LegacyPeers.BLOCK
                else UnknownPeerPolicy.SERVE
            ),
            on_delivered=self._on_delivered,
            upload_limit=self.config.upload_limit,
            settings={"enable_dht": True} if self.config.dht else None,
            choke_unknown=self.config.legacy_peers is not LegacyPeers.BLOCK,
            unknown_slots=self.config.optimistic_slots,
            unchoke_interval=round(self.config.choke_interval),
        )
        self._lock = threading.Lock()
        self._torrents: dict[str, _Torrent] = {}
        self._secret = os.urandom(32)
        self._service = LoopThread("paid-seeder")
        self._server: PayeeServer | None = None
        self._ledger: AsyncLedgerClient | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._watch = ServiceWatch()
        self.bans: list[tuple[str, str]] = []  # (ip, why)
        self.discovery: SellerDiscovery | None = None
        self._legacy_sent: dict[tuple[str, str], int] = {}  # (payer IP, info hash) -> bytes
        self._unpaid_sent: dict[str, int] = {}  # IP -> bytes sent while not a payer (legacy)
        self._refused: dict[tuple[str, str], str] = {}  # (payer, info hash) -> last refusal

    # ---------------------------------------------------------------- set-up

    @property
    def bt_endpoint(self) -> str:
        return f"{self.ip}:{self.seeder.port}"

    @property
    def payee_target(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        return f"{self.ip}:{self._server.port}"

    @property
    def book(self) -> PayeeBook:
        if self._server is None:
            raise RuntimeError("not started")
        return self._server.book

    def add(
        self,
        ti: lt.torrent_info,
        save_path: Path,
        *,
        reserve: int | None = None,
        trackers: Sequence[str] = (),
        timeout: float = 30.0,
    ) -> str:
        """Seed `ti` from `save_path` (checked first) at its own `reserve` price (default: the
        config's), announced to its trackers and `trackers`; returns its info hash."""
        ih = self.seeder.add(ti, save_path)
        handle = self.seeder.handle(ih)
        known = [str(t["url"]) for t in handle.trackers()]
        for url in trackers:
            if url not in known:
                handle.add_tracker({"url": url, "tier": len(known)})
                known.append(url)
        self.seeder.wait_seeding(ih, timeout)
        geometry = Geometry.of(ti)
        now = self._clock()
        challenger = PossessionChallenger(
            TorrentGeometry(geometry.total_size, geometry.piece_length),
            self._secret,
            InfoHash(bytes.fromhex(ih)),
            chunk_reader(ti, save_path),
            now=now,
        )
        cfg = self.config
        auctioneer = Auctioneer(
            InfoHash(bytes.fromhex(ih)),
            config=AuctioneerConfig(cfg.paid_slots, cfg.optimistic_slots, cfg.optimistic_every),
        )
        fixed = reserve if reserve is not None else cfg.reserve
        reserve_price = ReservePrice(cfg.reserve_growth, now, fixed=fixed)
        market = SellerMarket(
            auctioneer, reserve_price, challenger, min_bid_interval_s=cfg.min_bid_interval
        )
        market.choke_round(now)  # sets the auction's reserve
        payers = PayerRoster(cfg.limits(geometry.piece_length))
        with self._lock:
            self._torrents[ih] = _Torrent(ih, geometry, market, payers, known)
        if self.discovery is not None:
            self._service.soon(self._discover, self._torrents[ih])
        return ih

    def magnet(self, info_hash: str) -> str:
        """A magnet link with the torrent's trackers (`tr=`)."""
        return str(lt.make_magnet_uri(self.seeder.handle(info_hash)))

    def start(self, timeout: float = 30.0) -> str:
        """Start the payee service on `ip` (and its event loop); returns its target."""
        self._service.start()
        return self._service.run(self._astart(), timeout)

    async def _astart(self) -> str:
        self._ledger = AsyncLedgerClient(
            self._ledger_target, self.key, ca_cert=self._ledger_ca_cert
        )
        cfg = self.config
        # The payee tolerates as much unpaid value as the gate lets out before throttling,
        # so an honest payer's receipts do not read UNDERPAID while its payment is in flight.
        piece = max((t.geometry.piece_length for t in self._torrents.values()), default=0)
        credit = -(-(cfg.window + cfg.inflight) // max(piece, 1)) + 2
        terms = replace(cfg.terms, piece_size=piece, credit_pieces=credit)
        book = await PayeeBook.create(
            self.key,
            self._ledger,
            PayeeStore(self._store_path),
            terms=terms,
            policy=cfg.checkpoint,
            clock=self._ledger_clock,
        )
        book.on_receipts = self._on_receipts
        book.on_accepted = self._on_accepted
        server = PayeeServer(book, rates=_AuctionRates(self))
        handlers = MarketHandlers(self._market, self._clock, self._apply_round)
        server.servicer.register("ReservePrice", handlers.reserve_price)
        server.servicer.register("ProvePossession", handlers.prove_possession)
        server.servicer.register("ReportFailedPiece", self._report_failed_piece)
        server.servicer.register("Watch", self._watch_service)
        self._server = server
        await server.start(f"{self.ip}:{self._payee_port}", credentials=self._payee_credentials)
        self.discovery = SellerDiscovery(
            self,
            self.ip,
            self.seeder.port,
            server.port,
            hints=BidHints(cfg.hint_min_percent, cfg.hint_grace),
            clock=self._clock,
        )
        for t in self._torrents.values():
            self._discover(t)
        self.discovery.start()
        # Channels from an earlier run: their peers are payers again.
        for ch in book.channels.values():
            if ch.is_open:
                self._account_for_channel(ch)
        self._ticker = asyncio.create_task(self._tick_loop(), name="paid-seeder-tick")
        return self.payee_target

    def stop(self, *, close_channels: bool = True, timeout: float = 60.0) -> None:
        """Close every channel with its best state (unless told not to), then shut down."""
        if not self._service.running:
            self.seeder.close()
            return
        try:
            if close_channels and self._server is not None:  # None: start() failed early
                self.close_all(timeout)
            self._service.run(self._astop(), timeout)
        finally:
            self.seeder.close()
            self._service.stop()

    async def _astop(self) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            await self._server.stop(0.2)
            self._server.book.store.close()
        if self._ledger is not None:
            await self._ledger.close()

    def close_all(self, timeout: float = 60.0) -> list[bytes]:
        """Close every open channel on the ledger with the best state held; returns their ids."""
        return self._service.run(self._close_all(), timeout)

    async def _close_all(self) -> list[bytes]:
        book = self.book
        closed = []
        for ch in list(book.channels.values()):
            if ch.record.status not in (ChannelStatus.OPEN, ChannelStatus.CLOSING):
                continue
            try:
                await book.close(ch.channel_id)
                closed.append(ch.channel_id)
            except LedgerError as exc:
                log.warning("closing %s failed: %s", ch.channel_id.hex()[:16], exc)
        return closed

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `fn` on the service's event loop (reads of the book and markets)."""
        return self._service.call(fn, timeout)

    # ---------------------------------------------------------------- reporting

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot: per payer its mode, rate, bytes sent/paid, channel totals;
        under `legacy` the bytes each IP was sent while it paid nothing (bid on nothing)."""
        return self.call(self._stats)

    def _stats(self) -> dict[str, Any]:
        with self._lock:
            return seeder_stats(
                {ih: (t.market, t.payers) for ih, t in self._torrents.items()},
                self.book.channels.values() if self._server else (),
                self._clock(),
                self.seeder.access.is_banned,
                self._unpaid_sent,
                self.bans,
            )

    def market(self, info_hash: str) -> SellerMarket:
        m = self._market(info_hash)
        if m is None:
            raise KeyError(f"not seeding {info_hash}")
        return m

    def _market(self, info_hash: str) -> SellerMarket | None:
        t = self._torrents.get(info_hash)
        return None if t is None else t.market

    # ---------------------------------------------------------------- bids and the auction

    def _enter_bid(self, request: ppb.BidRequest) -> int | None:
        """Service loop: every bid enters the auction; the rate is the auction's uniform price
        when the bidder is among the winners."""
        t = self._torrents.get(request.info_hash)
        ip = _ip_of(request.peer_endpoint)
        if t is None or ip is None:
            return None
        if self.discovery is not None:
            self.discovery.real_bid(t.info_hash, ip, max(0, request.units_per_piece))
            if self.seeder.access.is_banned(ip):
                return None  # its tracker bid was far above this one: dropped
        with self._lock:
            t.payers.join(
                request.payer, t.info_hash, ip, request.peer_endpoint, t.geometry.piece_length
            )
        if not self.seeder.gate.is_gated(ip):
            self.seeder.admit(ip)  # before it connects, so it comes under its own class
        market = t.market
        key = PeerAccount(request.payer)
        now = self._clock()
        if request.units_per_piece <= 0:
            market.auctioneer.withdraw_bid(key)
            market.on_peer_joined(key)
        else:
            bid = Bid(key, InfoHash(bytes.fromhex(t.info_hash)), request.units_per_piece, now)
            outcome = market.on_bid(bid, now)
            if isinstance(outcome, RoundResult):
                self._apply_round(t.info_hash, outcome)
            elif isinstance(outcome, BidRefused):
                log.info("bid from %s refused: %s", request.payer, outcome.detail)
                self._refused[(request.payer, t.info_hash)] = outcome.reason.value
        if market.auctioneer.pending:
            # Answer this bid with a round that includes it, not with the last one's result.
            self._apply_round(t.info_hash, market.auctioneer.run_round(now))
        with self._lock:
            return t.payers.rate_for(request.payer, t.info_hash)

    def _apply_round(self, info_hash: str, result: RoundResult) -> None:
        """Service loop: the round's modes and rates into the roster, then their effects."""
        t = self._torrents[info_hash]
        with self._lock:
            effects = t.payers.apply_round(info_hash, result)
        self._perform(effects)
        t.unsold = max(0, self.config.paid_slots - len(result.outcome.winners))
        self._lend_unsold_slots()

    def _lend_unsold_slots(self) -> None:
        """Legacy peers get libtorrent's unchoke slots: the optimistic one, plus under SERVE
        every paid slot the auctions left unsold."""
        slots = self.config.optimistic_slots
        if self.config.legacy_peers is LegacyPeers.SERVE:
            slots += sum(t.unsold for t in list(self._torrents.values()))
        self.seeder.set_unknown_slots(slots)

    def _perform(self, effects: list[Credit | Reprice | Announce]) -> None:
        for effect in effects:
            if isinstance(effect, Reprice):
                if self._server is not None:
                    self.book.reprice(effect.payer, effect.info_hash, effect.rate)
            elif isinstance(effect, Announce):
                self._announce_change(effect)
            else:
                self.seeder.credit(effect.ip, effect.info_hash, effect.paid_bytes)

    # ---------------------------------------------------------------- the Watch stream

    async def _watch_service(self, request: ppb.WatchRequest, context: Any) -> Any:
        """Server stream: the payer's service on a torrent now, then every change."""
        t = self._torrents.get(request.info_hash)
        if t is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "UNKNOWN_TORRENT: not seeded here")
        assert t is not None
        with self._lock:
            known = t.payers.get(request.payer, request.info_hash) is not None
        if not known:
            await context.abort(grpc.StatusCode.NOT_FOUND, "NO_SERVICE: no bid from this payer")
        async for update in self._watch.updates(request.payer, request.info_hash):
            yield update

    def _announce(self, acct: PayerAccount) -> None:
        """Service loop: push the payer's service if it changed."""
        t = self._torrents.get(acct.info_hash)
        if t is None:
            return
        with self._lock:
            service = acct.service(t.payers.limits)
        self._watch.publish(acct.payer, acct.info_hash, service)

    def _announce_change(self, effect: Announce) -> None:
        t = self._torrents.get(effect.info_hash)
        acct = None if t is None else t.payers.get(effect.payer, effect.info_hash)
        if t is None or acct is None:
            return
        if effect.repriced:  # choke, then the new rate (whitepaper)
            with self._lock:
                credited = acct.credited
            choked = Service(
                Mode.CHOKED, 0, credited, t.payers.limits.window, ChokeReason.REPRICE.value
            )
            self._watch.publish(acct.payer, acct.info_hash, choked)
        self._announce(acct)

    def _account_for_channel(self, ch: PayeeChannel) -> PayerAccount | None:
        r = ch.record
        t = self._torrents.get(r.info_hash)
        ip = _ip_of(r.peer_endpoint)
        if t is None or ip is None:
            return None
        with self._lock:
            acct = t.payers.join(r.payer, r.info_hash, ip, r.peer_endpoint, t.geometry.piece_length)
            if acct.paid.rate == 0:
                acct.paid.set_rate(r.rate)  # a channel from an earlier run keeps its rate
        return acct

    # ---------------------------------------------------------------- payments

    def _on_accepted(self, accepted: list[tuple[PayeeChannel, PayeeRecord]]) -> None:
        """Verified states, before their commit (service loop): credit them at once."""
        touched: dict[int, PayerAccount] = {}
        for ch, record in accepted:
            acct = self._account_for_channel(ch)
            if acct is None:
                continue
            with self._lock:
                acct.paid.paid(record.best_cumulative)
            touched[id(acct)] = acct
        for acct in touched.values():
            self._push_credit(acct)

    def _on_receipts(self, receipts: list[ppb.PaymentReceipt]) -> None:
        """Committed receipts (service loop): credit accepted payments, count refusals."""
        book = self.book
        touched: dict[int, PayerAccount] = {}
        for r in receipts:
            ch = book.channels.get(bytes(r.channel_id))
            if ch is None:
                continue
            acct = self._account_for_channel(ch)
            if acct is None:
                continue
            if r.accepted:
                with self._lock:
                    acct.paid.paid(ch.record.best_cumulative)
                touched[id(acct)] = acct
            elif r.reason != "DUPLICATE":
                limits = self._torrents[acct.info_hash].payers.limits
                with self._lock:
                    ban = acct.refused_payment(r.reason, limits)
                if ban is not None:
                    self._ban(acct, ban)
        for acct in touched.values():
            self._push_credit(acct)

    def _push_credit(self, acct: PayerAccount) -> None:
        with self._lock:
            credit = acct.credit()
        if credit is not None:
            self._perform([credit])
        self._announce(acct)

    async def _report_failed_piece(
        self, request: ppb.FailedPieceReport, context: Any
    ) -> ppb.FailedPieceAck:
        """Forgive our blocks in a piece the payer saw fail, up to the per-payer cap.

        Those blocks will never be paid (nobody is paid for a failed piece), and left as unpaid
        they would eat the payer's credit window for good. The cap bounds what a lying payer
        can get this way to `max_forgiven_pieces` pieces of bandwidth.
        """
        t = self._torrents.get(request.info_hash)
        with self._lock:
            acct = None if t is None else t.payers.get(request.payer, request.info_hash)
        if t is None or acct is None or request.bytes <= 0:
            return ppb.FailedPieceAck()
        with self._lock:
            if request.piece not in acct.pieces:  # never sent it anything of that piece
                return ppb.FailedPieceAck(forgiven_total=acct.forgiven)
            granted = acct.forgive(request.bytes, t.geometry.piece_length, t.payers.limits)
            total = acct.forgiven
        if granted:
            log.info("forgave %d bytes of failed piece %d to %s", granted, request.piece, acct.ip)
            self._push_credit(acct)
        return ppb.FailedPieceAck(forgiven=granted, forgiven_total=total)

    def _ban(self, acct: PayerAccount, ban: Ban) -> None:
        with self._lock:
            acct.banned()
        self.seeder.ban(ban.ip, self.config.ban_seconds)
        self.bans.append((ban.ip, ban.why))
        log.warning("banned %s (%s): %s", ban.ip, ban.payer, ban.why)
        self._announce(acct)
        t = self._torrents.get(acct.info_hash)
        if t is not None:  # it leaves the auction: its slot goes to the next bidder
            result = t.market.on_peer_left(PeerAccount(acct.payer), self._clock())
            if result is not None:
                self._apply_round(t.info_hash, result)

    # ---------------------------------------------------------------- libtorrent side

    def _on_delivered(self, who: PeerKey, info_hash: str, piece: int, nbytes: int) -> None:
        """Alert thread: count, keep free peers' gifts ahead, report whole pieces."""
        t = self._torrents.get(info_hash)
        if t is None:
            return
        with self._lock:
            acct = t.payers.at(who.ip, info_hash)
            if acct is None:
                self._unpaid_sent[who.ip] = self._unpaid_sent.get(who.ip, 0) + nbytes
                legacy = self._legacy_credit(who.ip, t, nbytes)
            else:
                delivery = acct.deliver(piece, nbytes, t.geometry.piece_size(piece))
                mode = acct.mode
                gift = None
                if acct.gift_low(t.payers.limits):
                    acct.top_up_gift(t.payers.limits)
                    gift = acct.credit()
        if not self._service.running:
            return
        if acct is None:
            if legacy is not None:
                self._perform([legacy])
            return
        if gift is not None:
            self._perform([gift])
            self._service.soon(self._announce, acct)
        if delivery.first:
            self._service.soon(self._uploaded, t, piece)
        if delivery.whole and mode is Mode.PAID:
            self._service.soon(self._delivered_piece, acct)

    def _legacy_credit(self, ip: str, t: _Torrent, nbytes: int) -> Credit | None:
        """A payer's IP on a torrent it does not bid for is a legacy peer there. Its peer
        class (per IP) is the one its paid torrents use, so the gate must not hold it for this
        torrent: credit keeps ahead of what it is sent (under BLOCK it is held: bid or nothing).
        """
        if self.config.legacy_peers is LegacyPeers.BLOCK or not self.seeder.gate.is_gated(ip):
            return None
        sent = self._legacy_sent.get((ip, t.info_hash), 0) + nbytes
        self._legacy_sent[(ip, t.info_hash)] = sent
        return Credit(ip, t.info_hash, sent + t.payers.limits.gift_ahead)

    def _uploaded(self, t: _Torrent, piece: int) -> None:
        # The delivered hook has no block index, so every chunk of a piece that went out is
        # treated as disclosed: the challenge then never names a chunk a peer was sent.
        now = self._clock()
        for chunk in range(-(-t.geometry.piece_size(piece) // CHUNK_SIZE)):
            t.market.on_upload(piece, chunk, now)

    def _delivered_piece(self, acct: PayerAccount) -> None:
        if self._server is None:
            return
        for ch in self.book.channels.values():
            if ch.is_open and (ch.payer, ch.record.info_hash) == (acct.payer, acct.info_hash):
                self.book.delivered(ch.channel_id, 1)
                return

    # ---------------------------------------------------------------- trackers

    def _discover(self, t: _Torrent) -> None:
        """Service loop: announce the torrent's payee port and reserve to its HTTP trackers."""
        if self.discovery is not None:
            reserve = t.market.reserve.price(self._clock())
            self.discovery.add_torrent(t.info_hash, t.trackers, reserve)

    def connect(self, info_hash: str, peers: Sequence[tuple[str, int]]) -> None:
        """Connect out to peers (the highest bidders a tracker lists)."""
        with contextlib.suppress(KeyError):
            self.seeder.connect(info_hash, peers)

    def connected_ips(self, info_hash: str) -> Iterable[str]:
        try:
            return self.seeder.peer_ips(info_hash)
        except KeyError:
            return ()

    def drop(self, info_hash: str, ip: str, why: str) -> None:
        """Disconnect a peer whose tracker bid proved false, and keep it out for a while."""
        self.seeder.ban(ip, self.config.ban_seconds)
        self.bans.append((ip, why))
        log.warning("dropped %s from %s: %s", ip, info_hash[:16], why)

    # ---------------------------------------------------------------- periodic work

    async def _tick_loop(self) -> None:
        last_round = time.monotonic()
        while True:
            await asyncio.sleep(self.config.tick)
            try:
                self._check_overdue()
                if time.monotonic() - last_round >= self.config.choke_interval:
                    last_round = time.monotonic()
                    self._choke_round()
            except Exception:
                log.exception("paid seeder tick failed")

    def _choke_round(self) -> None:
        now = self._clock()
        for t in list(self._torrents.values()):
            with self._lock:
                data = t.payers.round_data(t.info_hash)
            result, _announcement = t.market.choke_round(now, data)
            self._apply_round(t.info_hash, result)
            if self.discovery is not None:
                self.discovery.set_reserve(t.info_hash, t.market.reserve.price(now))
        if self.discovery is not None:
            self.discovery.tick()

    def _check_overdue(self) -> None:
        gate = self.seeder.gate
        now = time.monotonic()
        for t in list(self._torrents.values()):
            for acct in t.payers:
                stats = gate.account(acct.ip, acct.info_hash)
                if stats is None:
                    continue
                throttled = gate.is_throttled(acct.ip)
                with self._lock:
                    ban = acct.check_overdue(now, stats.complete, throttled, t.payers.limits)
                if ban is not None and not self.seeder.access.is_banned(acct.ip):
                    self._ban(acct, ban)


def _ip_of(endpoint: str) -> str | None:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host
