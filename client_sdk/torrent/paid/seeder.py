"""PaidSeeder: a gated libtorrent `Seeder`, the payee gRPC service and the bid market, joined.

Threads: libtorrent's alert thread calls `_on_delivered`; everything that touches the book,
the markets or the service runs on one private event loop (`_loop`), reached from the alert
thread with `call_soon_threadsafe`. Peer states are shared by both and guarded by `_lock`.

Per payer and torrent (`_Peer`), keyed by its ledger account:
- a bid carries its BitTorrent endpoint; its IP is admitted to the gate before it connects;
- the auction's actions set its mode: PAID (a winner: its payments are credited to the gate),
  FREE (the optimistic slot: the gate is credited with a gift that keeps ahead of deliveries),
  CHOKED (nothing new is credited, so the gate throttles it after the exposure bound). libtorrent's
  Python bindings cannot choke one peer, so a choke is this soft one: it leaks at most the
  gate's window + in-flight allowance;
- every accepted payment raises the bytes it paid for (`PaidBytes`) and credits the gate;
- every piece queued to it whole counts as delivered in the book (`PayeeBook.delivered`);
- refused updates (bad signature, stale, over the deposit...) count as failures: after
  `max_payment_failures` it is banned. A PAID peer that stays throttled with more than the
  window unpaid for `payment_timeout` seconds (it stopped paying) is banned too.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libtorrent as lt

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel import CheckpointPolicy, PayeeBook, PayeeStore, PayeeTerms
from client_sdk.channel.payee import PayeeChannel
from client_sdk.ledger_client import AsyncLedgerClient, LedgerError
from client_sdk.p2p import PayeeServer
from client_sdk.p2p.service import Win
from client_sdk.torrent.access import UnknownPeerPolicy
from client_sdk.torrent.market import (
    NO_GROWTH,
    ActionKind,
    Auctioneer,
    AuctioneerConfig,
    Bid,
    BidRejected,
    InfoHash,
    PeerKey,
    PossessionChallenger,
    ReservePrice,
    RoundResult,
    SellerMarket,
    TermsPolicy,
    TorrentGeometry,
)
from client_sdk.torrent.market.reserve import Growth
from client_sdk.torrent.paid.market_rpc import MarketHandlers
from client_sdk.torrent.paid.shares import PaidBytes
from client_sdk.torrent.peers import PeerKey as LtPeer
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import DEFAULT_PIECE_SIZE, Geometry
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
    unknown_peers: UnknownPeerPolicy = UnknownPeerPolicy.BLOCK
    """Peers that never bid: BLOCK (only bidders connect) or SERVE (served like a plain seed)."""


class Mode(enum.Enum):
    CHOKED = "choked"
    PAID = "paid"
    FREE = "free"


@dataclass
class _Peer:
    payer: str
    info_hash: str
    ip: str
    endpoint: str
    paid: PaidBytes
    mode: Mode = Mode.CHOKED
    gift: int = 0
    forgiven: int = 0  # bytes of pieces the payer reported failed (capped)
    sent: int = 0  # bytes queued to it, as the delivered hook reported
    round_sent: int = 0  # sent at the last choke round
    pieces: dict[int, int] = field(default_factory=dict)  # piece -> bytes queued, until whole
    whole_pieces: int = 0
    failures: int = 0
    overdue_since: float | None = None
    bans: int = 0

    @property
    def credited(self) -> int:
        return self.paid.value + self.gift + self.forgiven


@dataclass
class _Torrent:
    info_hash: str
    geometry: Geometry
    market: SellerMarket


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
    ) -> None:
        self.config = config or PaidSeederConfig()
        self.key = key
        self.ip = ip
        self._ledger_target = ledger_target
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
            unknown_peers=self.config.unknown_peers,
            on_delivered=self._on_delivered,
            upload_limit=self.config.upload_limit,
        )
        self._lock = threading.Lock()
        self._torrents: dict[str, _Torrent] = {}
        self._peers: dict[tuple[str, str], _Peer] = {}  # (payer, info hash)
        self._by_ip: dict[tuple[str, str], _Peer] = {}  # (ip, info hash)
        self._secret = os.urandom(32)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: PayeeServer | None = None
        self._ledger: AsyncLedgerClient | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.bans: list[tuple[str, str]] = []  # (ip, why)

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

    def add(self, ti: lt.torrent_info, save_path: Path, *, timeout: float = 30.0) -> str:
        """Seed `ti` from `save_path` (checked first); returns its info hash."""
        ih = self.seeder.add(ti, save_path)
        self.seeder.wait_seeding(ih, timeout)
        geometry = Geometry.of(ti)
        now = self._clock()
        challenger = PossessionChallenger(
            TorrentGeometry(geometry.total_size, geometry.piece_length),
            self._secret,
            InfoHash(bytes.fromhex(ih)),
            _chunk_reader(ti, save_path),
            now=now,
        )
        cfg = self.config
        auctioneer = Auctioneer(
            InfoHash(bytes.fromhex(ih)),
            TermsPolicy(self.key.address, channel_lifetime_s=cfg.terms.lifetime),
            config=AuctioneerConfig(cfg.paid_slots, cfg.optimistic_slots, cfg.optimistic_every),
        )
        reserve = ReservePrice(cfg.reserve_growth, now, fixed=cfg.reserve)
        market = SellerMarket(
            auctioneer, reserve, challenger, min_bid_interval_s=cfg.min_bid_interval
        )
        market.choke_round(now)  # sets the auction's reserve
        with self._lock:
            self._torrents[ih] = _Torrent(ih, geometry, market)
        return ih

    def start(self, timeout: float = 30.0) -> str:
        """Start the payee service on `ip` (and its event loop); returns its target."""
        if self._loop is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="paid-seeder", daemon=True)
        self._thread.start()
        return self._call(self._astart(), timeout)

    async def _astart(self) -> str:
        self._ledger = AsyncLedgerClient(self._ledger_target, self.key)
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
        server = PayeeServer(book, pricer=self._price)
        handlers = MarketHandlers(self._market, self._clock, self._apply_round)
        server.servicer.register("ReservePrice", handlers.reserve_price)
        server.servicer.register("ProvePossession", handlers.prove_possession)
        server.servicer.register("ReportFailedPiece", self._report_failed_piece)
        self._server = server
        await server.start(f"{self.ip}:{self._payee_port}")
        # Channels from an earlier run: their peers are payers again.
        for ch in book.channels.values():
            if ch.is_open:
                self._peer_for_channel(ch)
        self._ticker = asyncio.create_task(self._tick_loop(), name="paid-seeder-tick")
        return self.payee_target

    def stop(self, *, close_channels: bool = True, timeout: float = 60.0) -> None:
        """Close every channel with its best state (unless told not to), then shut down."""
        if self._loop is None:
            self.seeder.close()
            return
        try:
            if close_channels:
                self.close_all(timeout)
            self._call(self._astop(), timeout)
        finally:
            self.seeder.close()
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop.close()
            self._loop = None

    async def _astop(self) -> None:
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
        return self._call(self._close_all(), timeout)

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

        async def run() -> Any:
            return fn()

        return self._call(run(), timeout)

    def _call(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    # ---------------------------------------------------------------- reporting

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot: per payer its mode, rate, bytes sent/paid, channel totals."""
        return self.call(self._stats)

    def _stats(self) -> dict[str, Any]:
        channels = self.book.channels if self._server else {}
        peers = []
        with self._lock:
            for p in self._peers.values():
                chans = [
                    c
                    for c in channels.values()
                    if (c.payer, c.record.info_hash) == (p.payer, p.info_hash)
                ]
                peers.append(
                    {
                        "payer": p.payer,
                        "ip": p.ip,
                        "info_hash": p.info_hash,
                        "mode": p.mode.value,
                        "rate": p.paid.rate,
                        "sent_bytes": p.sent,
                        "paid_bytes": p.paid.value,
                        "gift_bytes": p.gift,
                        "forgiven_bytes": p.forgiven,
                        "whole_pieces": p.whole_pieces,
                        "failures": p.failures,
                        "banned": self.seeder.access.is_banned(p.ip),
                        "channels": [
                            {
                                "channel_id": c.channel_id.hex(),
                                "status": c.record.status.label(),
                                "deposit": c.record.deposit,
                                "best_cumulative": c.record.best_cumulative,
                                "owed": c.record.owed,
                            }
                            for c in chans
                        ],
                    }
                )
            torrents = {
                ih: {
                    "reserve": t.market.reserve.price(self._clock()),
                    "rate": (t.market.auctioneer.last.rate or 0) if t.market.auctioneer.last else 0,
                }
                for ih, t in self._torrents.items()
            }
        return {"torrents": torrents, "peers": peers, "bans": list(self.bans)}

    def market(self, info_hash: str) -> SellerMarket:
        m = self._market(info_hash)
        if m is None:
            raise KeyError(f"not seeding {info_hash}")
        return m

    def _market(self, info_hash: str) -> SellerMarket | None:
        t = self._torrents.get(info_hash)
        return None if t is None else t.market

    # ---------------------------------------------------------------- bids and the auction

    def _price(self, request: ppb.BidRequest) -> int | None:
        """The Pricer hook (service loop): every bid enters the auction; the rate is the
        auction's uniform price when the bidder is among the winners."""
        t = self._torrents.get(request.info_hash)
        ip = _ip_of(request.peer_endpoint)
        if t is None or ip is None:
            return None
        peer = self._peer(request.payer, request.info_hash, ip, request.peer_endpoint, t)
        if not self.seeder.gate.is_gated(ip):
            self.seeder.admit(ip)  # before it connects, so it comes under its own class
        market = t.market
        key = PeerKey(request.payer)
        now = self._clock()
        if request.units_per_piece <= 0:
            market.auctioneer.withdraw_bid(key)
            market.on_peer_joined(key)
            if market.auctioneer.pending:
                self._apply_round(t.info_hash, market.auctioneer.run_round(now))
        else:
            bid = Bid(key, InfoHash(bytes.fromhex(t.info_hash)), request.units_per_piece, now)
            outcome = market.on_bid(bid, now)
            if isinstance(outcome, RoundResult):
                self._apply_round(t.info_hash, outcome)
            elif isinstance(outcome, BidRejected):
                log.info("bid from %s refused: %s", request.payer, outcome.detail)
            if market.auctioneer.pending:
                # Answer this bid with a round that includes it, not with the last one's result.
                self._apply_round(t.info_hash, market.auctioneer.run_round(now))
        last = market.auctioneer.last
        rate = next((w.rate for w in last.outcome.winners if w.peer == key), None) if last else None
        return rate if rate and peer.mode is Mode.PAID else None

    def _apply_round(self, info_hash: str, result: RoundResult) -> None:
        """Turn the auction's actions into modes, rates and gate credits (service loop)."""
        server = self._server
        for action in result.actions:
            with self._lock:
                peer = self._peers.get((action.peer, info_hash))
            if peer is None:
                continue
            key = (peer.payer, info_hash)
            rate = action.response.rate_per_piece_units if action.response else 0
            if action.kind is ActionKind.CHOKE:
                mode = Mode.CHOKED
            elif action.kind is ActionKind.UNCHOKE or rate == 0:
                mode = Mode.FREE
            else:
                mode = Mode.PAID
            with self._lock:
                peer.mode = mode
                if mode is Mode.PAID:
                    peer.paid.set_rate(rate)
            if server is not None:
                if mode is Mode.PAID:
                    server.servicer.bids[key] = Win(rate, peer.endpoint)
                    for ch in server.book.channels.values():
                        if ch.is_open and (ch.payer, ch.record.info_hash) == key:
                            ch.record = ch.record.with_(rate=rate)
                else:
                    server.servicer.bids.pop(key, None)
            if mode is Mode.FREE:
                self._top_up_gift(peer)
            self._push_credit(peer)

    def _peer(self, payer: str, info_hash: str, ip: str, endpoint: str, t: _Torrent) -> _Peer:
        with self._lock:
            peer = self._peers.get((payer, info_hash))
            if peer is None:
                peer = _Peer(payer, info_hash, ip, endpoint, PaidBytes(t.geometry.piece_length))
                self._peers[(payer, info_hash)] = peer
            elif peer.ip != ip:
                self._by_ip.pop((peer.ip, info_hash), None)
                peer.ip, peer.endpoint = ip, endpoint
            peer.endpoint = endpoint
            self._by_ip[(ip, info_hash)] = peer
            return peer

    def _peer_for_channel(self, ch: PayeeChannel) -> _Peer | None:
        r = ch.record
        t = self._torrents.get(r.info_hash)
        ip = _ip_of(r.peer_endpoint)
        if t is None or ip is None:
            return None
        peer = self._peer(r.payer, r.info_hash, ip, r.peer_endpoint, t)
        with self._lock:
            if peer.paid.rate == 0:
                peer.paid.set_rate(r.rate)
        return peer

    # ---------------------------------------------------------------- payments

    def _on_receipts(self, receipts: list[ppb.PaymentReceipt]) -> None:
        """Committed receipts (service loop): credit accepted payments, count refusals."""
        book = self.book
        touched: dict[int, _Peer] = {}
        for r in receipts:
            ch = book.channels.get(bytes(r.channel_id))
            if ch is None:
                continue
            peer = self._peer_for_channel(ch)
            if peer is None:
                continue
            if r.accepted:
                with self._lock:
                    peer.paid.paid(ch.record.best_cumulative)
                touched[id(peer)] = peer
            elif r.reason != "DUPLICATE":
                with self._lock:
                    peer.failures += 1
                    strikes = peer.failures
                if strikes >= self.config.max_payment_failures:
                    self._ban(peer, f"{strikes} refused payment updates ({r.reason})")
        for peer in touched.values():
            self._push_credit(peer)

    def _push_credit(self, peer: _Peer) -> None:
        with self._lock:
            if peer.mode is Mode.CHOKED:
                return
            credited = peer.credited
        if credited > 0:
            self.seeder.credit(peer.ip, peer.info_hash, credited)

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
            peer = self._peers.get((request.payer, request.info_hash))
        if t is None or peer is None or request.bytes <= 0:
            return ppb.FailedPieceAck()
        piece_len = t.geometry.piece_length
        with self._lock:
            cap = self.config.max_forgiven_pieces * piece_len
            granted = max(0, min(request.bytes, piece_len, cap - peer.forgiven))
            peer.forgiven += granted
            total = peer.forgiven
        if granted:
            log.info("forgave %d bytes of failed piece %d to %s", granted, request.piece, peer.ip)
            self._push_credit(peer)
        return ppb.FailedPieceAck(forgiven=granted, forgiven_total=total)

    def _top_up_gift(self, peer: _Peer) -> None:
        t = self._torrents[peer.info_hash]
        with self._lock:
            floor = peer.sent + self.config.window
            if peer.credited < floor:
                ahead = GIFT_AHEAD_PIECES * t.geometry.piece_length
                peer.gift = peer.sent + ahead - peer.paid.value

    def _ban(self, peer: _Peer, why: str) -> None:
        with self._lock:
            peer.failures = 0
            peer.overdue_since = None
            peer.bans += 1
        self.seeder.ban(peer.ip, self.config.ban_seconds)
        self.bans.append((peer.ip, why))
        log.warning("banned %s (%s): %s", peer.ip, peer.payer, why)

    # ---------------------------------------------------------------- libtorrent side

    def _on_delivered(self, who: LtPeer, info_hash: str, piece: int, nbytes: int) -> None:
        """Alert thread: count, keep free peers' gifts ahead, report whole pieces."""
        t = self._torrents.get(info_hash)
        if t is None:
            return
        with self._lock:
            peer = self._by_ip.get((who.ip, info_hash))
            if peer is None:
                return
            peer.sent += nbytes
            first = piece not in peer.pieces
            got = peer.pieces.get(piece, 0) + nbytes
            whole = got >= t.geometry.piece_size(piece)
            if whole:
                peer.pieces[piece] = -(1 << 62)  # counted; a resend does not count again
                peer.whole_pieces += 1
            else:
                peer.pieces[piece] = got
            mode = peer.mode
            gift_low = mode is Mode.FREE and peer.credited < peer.sent + self.config.window
        loop = self._loop
        if loop is None:
            return
        if gift_low:
            self._top_up_gift(peer)
            self._push_credit(peer)
        if first:
            loop.call_soon_threadsafe(self._uploaded, t, piece)
        if whole and mode is Mode.PAID:
            loop.call_soon_threadsafe(self._delivered_piece, peer)

    def _uploaded(self, t: _Torrent, piece: int) -> None:
        # The delivered hook has no block index, so every chunk of a piece that went out is
        # treated as disclosed: the challenge then never names a chunk a peer was sent.
        now = self._clock()
        chunks = -(-t.geometry.piece_size(piece) // (16 * 1024))
        for chunk in range(chunks):
            t.market.on_upload(piece, chunk, now)

    def _delivered_piece(self, peer: _Peer) -> None:
        if self._server is None:
            return
        for ch in self.book.channels.values():
            if ch.is_open and (ch.payer, ch.record.info_hash) == (peer.payer, peer.info_hash):
                self.book.delivered(ch.channel_id, 1)
                return

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
                data = {}
                for p in self._peers.values():
                    if p.info_hash == t.info_hash:
                        data[PeerKey(p.payer)] = p.sent - p.round_sent
                        p.round_sent = p.sent
            result, _announcement = t.market.choke_round(now, data)
            self._apply_round(t.info_hash, result)

    def _check_overdue(self) -> None:
        """A paying winner that keeps whole pieces unpaid past the window while throttled has
        stopped paying: after `payment_timeout` seconds it is banned."""
        gate = self.seeder.gate
        now = time.monotonic()
        with self._lock:
            peers = [p for p in self._peers.values() if p.mode is Mode.PAID]
        for p in peers:
            acct = gate.account(p.ip, p.info_hash)
            if acct is None:
                continue
            overdue = acct.complete - p.credited > self.config.window and gate.is_throttled(p.ip)
            with self._lock:
                if not overdue:
                    p.overdue_since = None
                    continue
                if p.overdue_since is None:
                    p.overdue_since = now
                late = now - p.overdue_since >= self.config.payment_timeout
            if late and not self.seeder.access.is_banned(p.ip):
                self._ban(p, "stopped paying: unpaid pieces beyond the credit window")


def _ip_of(endpoint: str) -> str | None:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        import ipaddress

        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


def _chunk_reader(ti: lt.torrent_info, save_path: Path) -> Callable[[int, int], bytes]:
    """read_chunk(piece, chunk) from the seeded files, for proofs of possession."""
    info = lt.torrent_info(ti)
    files = info.layout()

    def read(piece: int, chunk: int) -> bytes:
        start = chunk * 16 * 1024
        size = min(16 * 1024, info.piece_size(piece) - start)
        out = bytearray()
        for s in info.map_block(piece, start, size):
            with (save_path / files.file_path(s.file_index)).open("rb") as fh:
                fh.seek(s.offset)
                out += fh.read(s.size)
        return bytes(out)

    return read
