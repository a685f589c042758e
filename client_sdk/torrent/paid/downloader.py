"""PaidDownloader: a libtorrent `Downloader` that pays each paid seeder per verified piece.

Per paid seeder (its BitTorrent endpoint plus its payee gRPC target): ask its reserve price,
bid (a fixed rate, or the `Autobidder` over the budget), open a channel with the refund
handshake sized from the budget, announce our BitTorrent endpoint, connect. Free peers are
connected as well: paying only buys priority.

On every verified piece each paid peer earns rate x its bytes of the piece / the piece's size,
rounded down (`piece_payments`): never more than the rate in total, exactly the rate for a
peer that delivered the whole piece, nothing for a piece that failed its hash check. A seeder
that is the sole source of a failed piece is banned (the Downloader does it).

Payments are pipelined: each is signed and queued at once on the channel's payment stream,
receipts are collected as they come. Deposits plus top-ups never exceed the budget; when the
budget is spent, payments stop and the seeder cuts us off while free peers carry on.

Several torrents share one libtorrent session, one budget and one autobidder (which spreads
the balance over every torrent being bid on); bidding and the spending rate are set per torrent
(`Wanted`). Paid seeders are given (`seeders`) or found through the torrents' HTTP trackers
(`BuyerDiscovery`: peers that announce a payee port), and our bid is announced there too.

Each paid seeder pushes what it serves us (mode, rate in force, credit) on its Watch stream. When
every source of the torrent is a paid seeder, the download asks libtorrent only for the pieces
that their credit limits let out (`RequestWindow`): no seeder then ever holds more than its
window of our data unpaid, and its throttle never has to act.

On finish the payer asks each payee for a cooperative close (CloseMode.COOPERATIVE, the
default: the money settles at once), or leaves the channels to the payees
(CloseMode.LEAVE_TO_PAYEE), which close with the best state before the refund unlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import libtorrent as lt

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel import ChannelError, PayerStore
from client_sdk.ledger_client import AsyncLedgerClient, LedgerError
from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.market import (
    Autobidder,
    InfoHash,
    RebidPolicy,
    SpendingRate,
)
from client_sdk.torrent.paid.bidder import Bidding
from client_sdk.torrent.paid.bidding import acceptable_rate
from client_sdk.torrent.paid.control import ControlServer
from client_sdk.torrent.paid.progress import (
    DownloadsSummary,
    DownloadSummary,
    ProgressSnapshot,
)
from client_sdk.torrent.paid.report import Reporting
from client_sdk.torrent.paid.spending import Budget
from client_sdk.torrent.paid.state import (
    BidChange,
    CloseMode,
    Endpoint,
    PaidPeer,
    Tally,
    TorrentState,
    Wanted,
    parse_endpoint,
)
from client_sdk.torrent.paid.window import RequestWindow
from client_sdk.torrent.peers import PeerKey
from client_sdk.torrent.session import Geometry
from client_sdk.tracker.discovery import BuyerDiscovery
from core.crypto import SigningKey

log = logging.getLogger(__name__)

__all__ = [
    "BidChange",
    "CloseMode",
    "DownloadSummary",
    "PaidDownloader",
    "ProgressSnapshot",
    "Wanted",
    "parse_endpoint",
]


COMPLETION_POLL = 0.01  # seconds
WATCH_RETRY = 1.0  # seconds before watching a payee again after its stream broke


class PaidDownloader(Bidding, Reporting):
    def __init__(
        self,
        *,
        key: SigningKey,
        ledger_target: str,
        ip: str,
        out_dir: Path,
        source: lt.torrent_info | Path | str | None = None,
        budget: int,
        sources: Sequence[Wanted] = (),
        seeders: Sequence[tuple[str | Endpoint, str]] = (),
        peers: Sequence[str | Endpoint] = (),
        rate: int | None = None,
        spending_rate: SpendingRate | None = None,
        port: int = 0,
        store_path: Path | None = None,
        close_mode: CloseMode = CloseMode.COOPERATIVE,
        timeout: float = 600.0,
        ban_seconds: float = 300.0,
        rebid_interval: float = 1.0,
        rebid_policy: RebidPolicy | None = None,
        control_path: Path | None = None,
        downloader_settings: Mapping[str, Any] | None = None,
        dht: bool = False,
        ledger_ca_cert: Path | None = None,
        payee_credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """`ledger_ca_cert`: the ledger serves TLS with a certificate from this CA;
        `payee_credentials`: paid seeders' payee services are reached over TLS."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 (or None for the autobidder)")
        wanted = ([Wanted(source)] if source is not None else []) + list(sources)
        if not wanted:
            raise ValueError("nothing to download: give a source")
        self.key = key
        self.ledger_target = ledger_target
        self.ledger_ca_cert = ledger_ca_cert
        self.payee_credentials = payee_credentials
        self.ip = ip
        self.port = port
        self.out_dir = out_dir
        self._downloads = [TorrentState(w) for w in wanted]
        self._budget = Budget(budget)
        self.paid_specs = [(parse_endpoint(bt), target) for bt, target in seeders]
        self.free_peers = [parse_endpoint(p) for p in peers]
        self.fixed_rate = rate
        self.autobidder = Autobidder(
            budget=budget,
            spending_rate=spending_rate or SpendingRate(1),
            policy=rebid_policy,
            clock=time.monotonic,
        )
        self.bid_history: list[BidChange] = []
        """Every bid the autobid decided to send, per torrent, in order."""
        self._rebid_now = False
        self.control_path = control_path
        """A Unix socket that changes the budget or spending rate while it runs (`control`)."""
        self.store_path = store_path or out_dir / ".btt-payer.db"
        self.close_mode = close_mode
        self.timeout = timeout
        self.ban_seconds = ban_seconds
        self.rebid_interval = rebid_interval
        self._settings = {**(downloader_settings or {}), **({"enable_dht": True} if dht else {})}
        self._lock = threading.Lock()
        self._by_hash: dict[str, TorrentState] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dl: Downloader | None = None
        self._ledger: AsyncLedgerClient | None = None
        self._store: PayerStore | None = None
        self._me = ""
        self._opening: set[asyncio.Task[None]] = set()
        self._proving: set[asyncio.Task[None]] = set()
        self._recorded_spent = 0
        self._moved: dict[str, int] = {}  # info hash -> the autobid's bid, not yet sent
        self._t0 = time.perf_counter()
        self.discovery: BuyerDiscovery | None = None
        self._t_connect = 0.0

    @property
    def info_hash(self) -> str:
        """The (first) torrent's info hash, once added."""
        return self._downloads[0].info_hash

    @property
    def failed_pieces(self) -> list[int]:
        return [p for d in self._downloads for p in d.failed_pieces]

    @property
    def verified_shares(self) -> list[tuple[int, dict[str, int]]]:
        return [v for d in self._downloads for v in d.verified_shares]

    @property
    def budget(self) -> int:
        return self._budget.budget

    @property
    def locked(self) -> int:
        return self._budget.locked

    # ---------------------------------------------------------------- running

    def run(self, progress: Callable[[ProgressSnapshot], None] | None = None) -> DownloadSummary:
        return asyncio.run(self.arun(progress))

    def run_all(
        self, progress: Callable[[ProgressSnapshot], None] | None = None
    ) -> DownloadsSummary:
        return asyncio.run(self.arun_all(progress))

    async def arun(
        self,
        progress: Callable[[ProgressSnapshot], None] | None = None,
        *,
        interval: float = 0.25,
    ) -> DownloadSummary:
        """Download the one torrent; its summary."""
        if len(self._downloads) != 1:
            raise ValueError("several torrents: use arun_all")
        return (await self.arun_all(progress, interval=interval)).torrents[0]

    async def arun_all(
        self,
        progress: Callable[[ProgressSnapshot], None] | None = None,
        *,
        interval: float = 0.25,
    ) -> DownloadsSummary:
        self._loop = asyncio.get_running_loop()
        self._t0 = time.perf_counter()
        ledger = AsyncLedgerClient(self.ledger_target, self.key, ca_cert=self.ledger_ca_cert)
        store = PayerStore(self.store_path)
        self._ledger, self._store = ledger, store
        dl = Downloader(
            self.ip,
            self.out_dir,
            self.port,
            on_piece_verified=self._on_verified,
            on_piece_failed=self._on_failed,
            ban_sole_bad_peer=self.ban_seconds,
            settings=self._settings or None,
        )
        self._dl = dl
        t0 = time.perf_counter()
        control = ControlServer(self, self.control_path) if self.control_path else None
        try:
            if control is not None:
                await control.start()
            for d in self._downloads:
                d.info_hash = dl.add(d.wanted.source)
                self._by_hash[d.info_hash] = d
                self._refresh_geometry(d)
                if d.wanted.spending_rate is not None:
                    self.autobidder.set_torrent_spending_rate(
                        InfoHash(bytes.fromhex(d.info_hash)), d.wanted.spending_rate
                    )
                if not d.bidding:
                    self.autobidder.set_torrent_enabled(InfoHash(bytes.fromhex(d.info_hash)), False)
            self._me = f"{self.ip}:{dl.port}"
            await asyncio.gather(
                *(
                    self._open(d, bt, target)
                    for d in self._downloads
                    if d.bidding
                    for bt, target in self.paid_specs
                )
            )
            for d in self._downloads:
                self._start_window(d)
                dl.connect(d.info_hash, [bt for bt, _ in self.paid_specs] + self.free_peers)
            self._t_connect = time.perf_counter()
            self._start_discovery(dl)
            await self._until_done(progress, interval)
            await self._drain_payments()
            if self._proving:
                await asyncio.wait(self._proving, timeout=10.0)
            if progress is not None:
                progress(self.snapshot())
            if self.close_mode is CloseMode.COOPERATIVE:
                await self._close_all(done_only=True)
            return self._summary(time.perf_counter() - t0)
        finally:
            if control is not None:
                await control.stop()
            if self.discovery is not None:
                with contextlib.suppress(Exception):
                    await self.discovery.stop()
            for task in [*self._opening, *self._proving]:
                task.cancel()
            for p in self._all_paid():
                for job in (p.worker, p.watcher):
                    if job is not None:
                        job.cancel()
                with contextlib.suppress(Exception):
                    await p.client.close()
            dl.close()
            store.close()
            await ledger.close()

    async def _until_done(
        self, progress: Callable[[ProgressSnapshot], None] | None, interval: float
    ) -> None:
        dl = self._dl
        assert dl is not None
        deadline = time.monotonic() + self.timeout
        next_rebid = time.monotonic() + self.rebid_interval
        next_progress = 0.0
        while True:
            # Poll finely so completion is seen when it happens; report at `interval`.
            await asyncio.sleep(COMPLETION_POLL)
            for d in self._downloads:
                if d.geometry is None:
                    self._refresh_geometry(d)
                if not d.complete and dl.progress(d.info_hash).complete:
                    await asyncio.to_thread(dl.wait_complete, d.info_hash, 10.0)
                    d.complete, d.t_done = True, time.perf_counter()
                    self._proving.add(asyncio.create_task(self._prove(d)))
            if progress is not None and time.monotonic() >= next_progress:
                next_progress = time.monotonic() + interval
                progress(self.snapshot())
            if all(d.complete for d in self._downloads) or time.monotonic() > deadline:
                return
            if time.monotonic() >= next_rebid or self._rebid_now:
                # A change of budget or spending rate re-bids at once.
                self._rebid_now = False
                next_rebid = time.monotonic() + self.rebid_interval
                await self._rebid_all()

    def _refresh_geometry(self, d: TorrentState) -> None:
        assert self._dl is not None
        ti = self._dl.handle(d.info_hash).torrent_file()
        d.geometry = Geometry.of(ti) if ti is not None else None

    def _all_paid(self) -> list[PaidPeer]:
        return [p for d in self._downloads for p in d.paid.values()]

    # ---------------------------------------------------------------- discovery

    def _start_discovery(self, dl: Downloader) -> None:
        """Announce our bids to the torrents' HTTP trackers and hear of paid seeders there."""
        discovery = BuyerDiscovery(self, self.ip, dl.port)
        tracked = False
        for d in self._downloads:
            if not d.bidding:
                continue  # libtorrent's own announces find it plain peers
            trackers = [str(t["url"]) for t in dl.handle(d.info_hash).trackers()]
            tracked |= discovery.add_torrent(
                d.info_hash, trackers, functools.partial(self._left, d), self._bid_for(d)
            )
        if tracked:
            self.discovery = discovery
            discovery.start()

    def found_seller(self, info_hash: str, bt: Endpoint, payee: str) -> None:
        """A tracker lists a peer with a payee service: bid there, open a channel, connect."""
        d = self._by_hash.get(info_hash)
        if d is None or not d.bidding or bt[0] in d.paid or self._loop is None:
            return
        self._end_window(d)
        task = self._loop.create_task(self._open_and_connect(d, bt, payee))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open_and_connect(self, d: TorrentState, bt: Endpoint, payee: str) -> None:
        # Bid (and open the channel) first: the seeder admits a bidder before it connects.
        await self._open(d, bt, payee)
        if self._dl is not None:
            self._dl.connect(d.info_hash, [bt])

    def found_peers(self, info_hash: str, peers: Sequence[Endpoint]) -> None:
        d = self._by_hash.get(info_hash)
        if d is not None and self._dl is not None:
            if any(ip not in d.paid for ip, _ in peers):
                self._end_window(d)
            for ip, port in peers:
                d.endpoints.setdefault(ip, f"{ip}:{port}")
            self._dl.connect(info_hash, peers)

    # ---------------------------------------------------------------- the request window

    def _start_window(self, d: TorrentState) -> None:
        """Ask only for what the paid seeders let out, when they are the torrent's only
        sources (given, not found through trackers) and its metadata is known."""
        paid = [p for p in d.paid.values() if p.channel is not None]
        only_paid = bool(paid) and len(paid) == len(d.paid) and not self.free_peers
        if not only_paid or d.geometry is None or self._dl is None:
            return
        if self._dl.handle(d.info_hash).trackers():
            return  # trackers may bring free peers at any time
        d.window = RequestWindow(d.geometry)
        self._dl.hold_pieces(d.info_hash)
        self._refill(d)

    def _end_window(self, d: TorrentState) -> None:
        """Ask for everything again (our budget is spent, or other sources appeared)."""
        window, d.window = d.window, None
        if window is not None and self._dl is not None:
            self._dl.release_pieces(d.info_hash, window.remaining())

    def _refill(self, d: TorrentState) -> None:
        """Event loop: release the pieces the paid seeders' credit now allows."""
        window, dl = d.window, self._dl
        if window is None or dl is None:
            return
        services = [p.service for p in d.paid.values() if p.service is not None]
        if not services:
            return
        credited = sum(s.credited for s in services)
        limit = sum(s.credit_limit for s in services)
        pieces = window.grant(credited, limit)
        if pieces:
            dl.release_pieces(d.info_hash, pieces)

    def _window_verified(self, d: TorrentState, piece: int) -> None:
        if d.window is not None:
            d.window.verified(piece)

    def _window_failed(self, d: TorrentState, piece: int) -> None:
        if d.window is not None:
            d.window.failed(piece)
            self._refill(d)

    async def _watch(self, d: TorrentState, p: PaidPeer) -> None:
        """Follow the payee's pushes: the rate in force, choke and unchoke, our credit."""
        while True:
            try:
                async for update in p.client.watch(self.key.address, d.info_hash):
                    self._on_service(d, p, update)
            except ChannelError as exc:
                log.info("watch of %s ended: %s", p.payee_target, exc)
            await asyncio.sleep(WATCH_RETRY)

    def _on_service(self, d: TorrentState, p: PaidPeer, update: ppb.ServiceUpdate) -> None:
        if p.service is not None and update.sequence <= p.service.sequence:
            return
        p.service = update
        if update.mode == ppb.SERVICE_MODE_PAID:
            if acceptable_rate(int(update.rate), p.bid):
                p.account.rate = int(update.rate)
            else:  # never pay more than we bid; the payee reprices when our bid reaches it
                log.warning("%s asks %d above our bid %d", p.payee_target, update.rate, p.bid)
        choked = update.mode == ppb.SERVICE_MODE_CHOKED
        p.choked = f"choked: {update.reason.lower().replace('_', ' ')}" if choked else ""
        self._refill(d)

    # ---------------------------------------------------------------- paying

    def _on_verified(self, ih: str, piece: int, shares: Mapping[PeerKey, int]) -> None:
        """Alert thread: tally, then hand the payments to the event loop."""
        d = self._by_hash.get(ih)
        if d is None:
            return
        if d.geometry is None:  # a magnet whose metadata just arrived
            self._refresh_geometry(d)
            if d.geometry is None:
                return
        size = d.geometry.piece_size(piece)
        by_ip: dict[str, int] = {}
        with self._lock:
            for peer, n in shares.items():
                t = d.tally.setdefault(peer.ip, Tally())
                t.bytes += n
                t.pieces += int(n >= size)
                by_ip[peer.ip] = by_ip.get(peer.ip, 0) + n
            d.verified_shares.append((piece, dict(by_ip)))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._earned, d, size, by_ip)
            self._loop.call_soon_threadsafe(self._window_verified, d, piece)

    def _on_failed(self, ih: str, piece: int, shares: Mapping[PeerKey, int]) -> None:
        d = self._by_hash.get(ih)
        if d is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._window_failed, d, piece)
        with self._lock:
            d.failed_pieces.append(piece)
            for peer, n in shares.items():
                d.tally.setdefault(peer.ip, Tally()).failed += n
        # A failed piece is paid to nobody, so a paid seeder's blocks in it go unpaid and count
        # against its credit window. When free peers shared the piece, suspect them first and
        # ban them at once, before more mixed pieces strand the paid seeder's credit.
        ips = {p.ip for p in shares}
        paid = {ip for ip in ips if ip in d.paid and d.paid[ip].channel is not None}
        if self._loop is not None:
            for peer, n in shares.items():
                if peer.ip in paid and n > 0:
                    self._loop.call_soon_threadsafe(self._report_failed, d, peer.ip, piece, n)
        if paid and len(ips) > 1 and self._dl is not None:
            for ip in ips - paid:
                self._dl.ban(ip, self.ban_seconds)

    def _report_failed(self, d: TorrentState, ip: str, piece: int, nbytes: int) -> None:
        """Event loop: ask the paid seeder to forgive its blocks in a failed piece."""
        p = d.paid.get(ip)
        if p is None:
            return

        async def report() -> None:
            try:
                await p.client.report_failed_piece(self.key.address, d.info_hash, piece, nbytes)
            except Exception as exc:  # a payee that cannot hear it throttles us; nothing to undo
                log.info("failed-piece report to %s not delivered: %s", ip, exc)

        task = asyncio.get_running_loop().create_task(report())
        p.receipts.add(task)
        task.add_done_callback(p.receipts.discard)

    def _earned(self, d: TorrentState, size: int, by_ip: dict[str, int]) -> None:
        for ip, n in by_ip.items():
            p = d.paid.get(ip)
            if p is not None and p.account.earn(n, size) and p.channel is not None:
                p.wake.set()

    async def _pay_loop(self, d: TorrentState, p: PaidPeer) -> None:
        """Sign and queue the next cumulative as soon as more is owed; never await a receipt
        here, so payments pipeline."""
        channel = p.channel
        assert channel is not None
        acct = p.account
        while True:
            await p.wake.wait()
            p.wake.clear()
            while acct.due:
                if acct.owed > channel.deposit:
                    await self._top_up(d, p, acct.owed)
                target = acct.next_payment(channel.deposit)
                if target is None:
                    p.note = "budget spent: payments stopped"
                    self._end_window(d)  # free peers may still have what we lack
                    break
                task = asyncio.ensure_future(channel.pay_to(target))
                p.receipts.add(task)
                task.add_done_callback(functools.partial(self._receipt_done, p))

    def _receipt_done(self, p: PaidPeer, task: asyncio.Task[Any]) -> None:
        p.receipts.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            p.errors.append(str(exc))
            log.warning("payment to %s failed: %s", p.payee_target, exc)

    async def _top_up(self, d: TorrentState, p: PaidPeer, target: int) -> None:
        channel = p.channel
        assert channel is not None
        additional = self._budget.top_up_for(
            target, channel.deposit, p.account.rate, self._pieces(d)
        )
        if additional <= 0:
            return
        self._budget.lock(additional)
        try:
            await channel.top_up(additional)
        except (ChannelError, LedgerError) as exc:
            self._budget.unlock(additional)
            p.errors.append(f"top-up failed: {exc}")

    async def _drain_payments(self, timeout: float = 10.0) -> None:
        """Wait until every owed amount is signed and every receipt is in."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0)
            busy = [p for p in self._all_paid() if p.channel is not None and not p.account.starved]
            if all(p.account.sent >= p.account.owed and not p.receipts for p in busy):
                return
            await asyncio.sleep(0.01)

    async def _close_all(self, *, done_only: bool) -> None:
        for d in self._downloads:
            if done_only and not d.complete:
                continue
            for p in d.paid.values():
                if p.channel is None:
                    continue
                try:
                    await p.channel.cooperative_close()
                except (ChannelError, LedgerError) as exc:
                    p.errors.append(f"cooperative close failed: {exc}")
                    p.note = "close left to the payee"
