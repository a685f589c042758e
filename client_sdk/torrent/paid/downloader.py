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

On finish the payer asks each payee for a cooperative close (CloseMode.COOPERATIVE, the
default: the money settles at once), or leaves the channels to the payees
(CloseMode.LEAVE_TO_PAYEE), which close with the best state before the refund unlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

from client_sdk.channel import ChannelError, PayerChannel, PayerStore
from client_sdk.channel.errors import BidRejected
from client_sdk.ledger_client import AsyncLedgerClient, LedgerError
from client_sdk.p2p import PayeeClient
from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.market import Autobidder, InfoHash, SpendingRate, TorrentNeed
from client_sdk.torrent.paid.market_rpc import fetch_reserve
from client_sdk.torrent.paid.progress import DownloadSummary, PeerProgress, ProgressSnapshot
from client_sdk.torrent.paid.spending import Budget, PayeeAccount
from client_sdk.torrent.peers import PeerKey
from client_sdk.torrent.session import Geometry
from core.crypto import SigningKey

log = logging.getLogger(__name__)

Endpoint = tuple[str, int]


COMPLETION_POLL = 0.01  # seconds


class CloseMode(enum.StrEnum):
    COOPERATIVE = "cooperative"
    LEAVE_TO_PAYEE = "leave"


def parse_endpoint(text: str | Endpoint) -> Endpoint:
    if isinstance(text, tuple):
        return (str(text[0]), int(text[1]))
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected ip:port, got {text!r}")
    return (host.strip("[]"), int(port))


@dataclass
class _Paid:
    """One paid seeder as the payer sees it: the decisions' state plus its connections."""

    bt: Endpoint
    payee_target: str
    client: PayeeClient
    account: PayeeAccount = field(default_factory=PayeeAccount)
    channel: PayerChannel | None = None
    bid: int = 0
    reserve: int | None = None
    note: str = ""
    receipts: set[asyncio.Task[Any]] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


@dataclass
class _Tally:
    pieces: int = 0
    bytes: int = 0
    failed: int = 0


class PaidDownloader:
    def __init__(
        self,
        *,
        key: SigningKey,
        ledger_target: str,
        ip: str,
        out_dir: Path,
        source: lt.torrent_info | Path | str,
        budget: int,
        seeders: Sequence[tuple[str | Endpoint, str]] = (),
        peers: Sequence[str | Endpoint] = (),
        rate: int | None = None,
        spending_rate: SpendingRate | None = None,
        port: int = 0,
        store_path: Path | None = None,
        close_mode: CloseMode = CloseMode.COOPERATIVE,
        timeout: float = 600.0,
        ban_seconds: float = 300.0,
        rebid_interval: float = 10.0,
        downloader_settings: Mapping[str, Any] | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 (or None for the autobidder)")
        self.key = key
        self.ledger_target = ledger_target
        self.ip = ip
        self.port = port
        self.out_dir = out_dir
        self.source = source
        self._budget = Budget(budget)
        self.paid_specs = [(parse_endpoint(bt), target) for bt, target in seeders]
        self.free_peers = [parse_endpoint(p) for p in peers]
        self.fixed_rate = rate
        self.autobidder = Autobidder(
            budget=budget, spending_rate=spending_rate or SpendingRate(1), clock=time.time
        )
        self.store_path = store_path or out_dir / ".btt-payer.db"
        self.close_mode = close_mode
        self.timeout = timeout
        self.ban_seconds = ban_seconds
        self.rebid_interval = rebid_interval
        self._settings = downloader_settings
        self._lock = threading.Lock()
        self._tally: dict[str, _Tally] = {}  # ip -> verified/failed counts
        self._paid: dict[str, _Paid] = {}  # ip -> paid seeder
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dl: Downloader | None = None
        self._geometry: Geometry | None = None
        self.info_hash = ""
        self.failed_pieces: list[int] = []
        self._t_connect = self._t_done = 0.0
        # (piece, {ip: bytes}) of every verified piece, as libtorrent attributed it.
        self.verified_shares: list[tuple[int, dict[str, int]]] = []

    @property
    def budget(self) -> int:
        return self._budget.budget

    @property
    def locked(self) -> int:
        return self._budget.locked

    # ---------------------------------------------------------------- running

    def run(self, progress: Callable[[ProgressSnapshot], None] | None = None) -> DownloadSummary:
        return asyncio.run(self.arun(progress))

    async def arun(
        self,
        progress: Callable[[ProgressSnapshot], None] | None = None,
        *,
        interval: float = 0.25,
    ) -> DownloadSummary:
        self._loop = asyncio.get_running_loop()
        ledger = AsyncLedgerClient(self.ledger_target, self.key)
        store = PayerStore(self.store_path)
        dl = Downloader(
            self.ip,
            self.out_dir,
            self.port,
            on_piece_verified=self._on_verified,
            on_piece_failed=self._on_failed,
            ban_sole_bad_peer=self.ban_seconds,
            settings=self._settings,
        )
        self._dl = dl
        t0 = time.perf_counter()
        complete = False
        try:
            ih = dl.add(self.source)
            self.info_hash = ih
            ti = dl.handle(ih).torrent_file()
            self._geometry = Geometry.of(ti) if ti is not None else None
            me = f"{self.ip}:{dl.port}"
            await asyncio.gather(
                *(self._open(bt, target, ledger, store, me) for bt, target in self.paid_specs)
            )
            dl.connect(ih, [bt for bt, _ in self.paid_specs] + self.free_peers)
            self._t_connect = time.perf_counter()
            deadline = time.monotonic() + self.timeout
            next_rebid = time.monotonic() + self.rebid_interval
            next_progress = 0.0
            while True:
                # Poll finely so completion is seen when it happens; report at `interval`.
                await asyncio.sleep(COMPLETION_POLL)
                if self._geometry is None:
                    ti = dl.handle(ih).torrent_file()
                    self._geometry = Geometry.of(ti) if ti is not None else None
                if progress is not None and time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + interval
                    progress(self.snapshot())
                if dl.progress(ih).complete:
                    await asyncio.to_thread(dl.wait_complete, ih, 10.0)
                    self._t_done = time.perf_counter()
                    complete = True
                    break
                if time.monotonic() > deadline:
                    break
                if time.monotonic() >= next_rebid:
                    next_rebid = time.monotonic() + self.rebid_interval
                    await self._rebid_all(me)
            await self._drain_payments()
            if progress is not None:
                progress(self.snapshot())
            if complete and self.close_mode is CloseMode.COOPERATIVE:
                await self._close_all()
            return self._summary(time.perf_counter() - t0, complete)
        finally:
            for p in self._paid.values():
                if p.worker is not None:
                    p.worker.cancel()
                with contextlib.suppress(Exception):
                    await p.client.close()
            dl.close()
            store.close()
            await ledger.close()

    # ---------------------------------------------------------------- opening

    def _bid_for(self, reserve: int | None) -> int:
        if self.fixed_rate is not None:
            return self.fixed_rate
        geo = self._geometry
        piece = geo.piece_length if geo else 256 * 1024
        remaining = geo.total_size if geo else piece * 1024
        ih = InfoHash(bytes.fromhex(self.info_hash))
        self.autobidder.poll([TorrentNeed(ih, piece, remaining)])
        return self.autobidder.current_bid(ih) or 0

    async def _open(
        self,
        bt: Endpoint,
        target: str,
        ledger: AsyncLedgerClient,
        store: PayerStore,
        me: str,
    ) -> None:
        p = _Paid(bt, target, PayeeClient(target))
        self._paid[bt[0]] = p
        try:
            reserve = await fetch_reserve(target, self.info_hash)
            p.reserve = int(reserve.reserve_price) if reserve is not None else None
            p.bid = self._bid_for(p.reserve)
            if p.bid <= 0:
                p.note = "no bid (budget or autobid is zero): free peer"
                return
            won = await p.client.bid(self.key.address, p.bid, me, self.info_hash)
            if not won.accepted:
                p.note = f"bid {p.bid} lost ({won.reason}): free peer"
                return
            deposit = self._budget.deposit_for(
                int(won.rate), int(won.terms.min_deposit), self._pieces()
            )
            if deposit is None:
                # Withdraw: a winner that never pays would be cut off and banned.
                await p.client.bid(self.key.address, 0, me, self.info_hash)
                p.note = "budget below the payee's minimum deposit: free peer"
                return
            self._budget.lock(deposit)
            try:
                p.channel = await PayerChannel.open(
                    key=self.key,
                    ledger=ledger,
                    payee=p.client,
                    store=store,
                    info_hash=self.info_hash,
                    peer_endpoint=me,
                    bid=p.bid,
                    deposit=deposit,
                )
            except BaseException:
                self._budget.unlock(deposit)  # the open failed before or at the lock
                raise
            p.account.rate = p.channel.rate
            p.worker = asyncio.create_task(self._pay_loop(p), name=f"pay-{target}")
        except BidRejected as exc:
            p.note = f"bid lost ({exc}): free peer"
        except (ChannelError, LedgerError) as exc:
            p.note = f"no channel: {exc}"
            p.errors.append(str(exc))

    def _pieces(self) -> int:
        return self._geometry.num_pieces if self._geometry else 64

    async def _rebid_all(self, me: str) -> None:
        """Re-bid to learn the uniform price now in force (it moves when others bid)."""
        for p in self._paid.values():
            if p.channel is None:
                continue
            with contextlib.suppress(ChannelError):
                won = await p.client.bid(self.key.address, p.bid, me, self.info_hash)
                if won.accepted and won.rate != p.account.rate:
                    p.account.rate = int(won.rate)

    # ---------------------------------------------------------------- paying

    def _on_verified(self, ih: str, piece: int, shares: Mapping[PeerKey, int]) -> None:
        """Alert thread: tally, then hand the payments to the event loop."""
        geo = self._geometry
        if geo is None or ih != self.info_hash:
            return
        size = geo.piece_size(piece)
        with self._lock:
            for peer, n in shares.items():
                t = self._tally.setdefault(peer.ip, _Tally())
                t.bytes += n
                t.pieces += int(n >= size)
        by_ip: dict[str, int] = {}
        for peer, n in shares.items():
            by_ip[peer.ip] = by_ip.get(peer.ip, 0) + n
        with self._lock:
            self.verified_shares.append((piece, dict(by_ip)))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._earned, piece, size, by_ip)

    def _on_failed(self, ih: str, piece: int, shares: Mapping[PeerKey, int]) -> None:
        with self._lock:
            self.failed_pieces.append(piece)
            for peer, n in shares.items():
                self._tally.setdefault(peer.ip, _Tally()).failed += n
        # A failed piece is paid to nobody, so a paid seeder's blocks in it go unpaid and count
        # against its credit window. When free peers shared the piece, suspect them first and
        # ban them at once, before more mixed pieces strand the paid seeder's credit.
        ips = {p.ip for p in shares}
        paid = {ip for ip in ips if ip in self._paid and self._paid[ip].channel is not None}
        if self._loop is not None:
            for peer, n in shares.items():
                if peer.ip in paid and n > 0:
                    self._loop.call_soon_threadsafe(self._report_failed, peer.ip, ih, piece, n)
        if paid and len(ips) > 1 and self._dl is not None:
            for ip in ips - paid:
                self._dl.ban(ip, self.ban_seconds)

    def _report_failed(self, ip: str, ih: str, piece: int, nbytes: int) -> None:
        """Event loop: ask the paid seeder to forgive its blocks in a failed piece."""
        p = self._paid.get(ip)
        if p is None:
            return

        async def report() -> None:
            try:
                await p.client.report_failed_piece(self.key.address, ih, piece, nbytes)
            except Exception as exc:  # a payee that cannot hear it throttles us; nothing to undo
                log.info("failed-piece report to %s not delivered: %s", ip, exc)

        task = asyncio.get_running_loop().create_task(report())
        p.receipts.add(task)
        task.add_done_callback(p.receipts.discard)

    def _earned(self, piece: int, size: int, by_ip: dict[str, int]) -> None:
        for ip, n in by_ip.items():
            p = self._paid.get(ip)
            if p is not None and p.channel is not None and p.account.earn(n, size):
                p.wake.set()

    async def _pay_loop(self, p: _Paid) -> None:
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
                    await self._top_up(p, acct.owed)
                target = acct.next_payment(channel.deposit)
                if target is None:
                    p.note = "budget spent: payments stopped"
                    break
                task = asyncio.ensure_future(channel.pay_to(target))
                p.receipts.add(task)
                task.add_done_callback(functools.partial(self._receipt_done, p))

    def _receipt_done(self, p: _Paid, task: asyncio.Task[Any]) -> None:
        p.receipts.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            p.errors.append(str(exc))
            log.warning("payment to %s failed: %s", p.payee_target, exc)

    async def _top_up(self, p: _Paid, target: int) -> None:
        channel = p.channel
        assert channel is not None
        additional = self._budget.top_up_for(
            target, channel.deposit, p.account.rate, self._pieces()
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
            busy = [
                p for p in self._paid.values() if p.channel is not None and not p.account.starved
            ]
            if all(p.account.sent >= p.account.owed and not p.receipts for p in busy):
                return
            await asyncio.sleep(0.01)

    async def _close_all(self) -> None:
        for p in self._paid.values():
            if p.channel is None:
                continue
            try:
                await p.channel.cooperative_close()
            except (ChannelError, LedgerError) as exc:
                p.errors.append(f"cooperative close failed: {exc}")
                p.note = "close left to the payee"

    # ---------------------------------------------------------------- reporting

    def _peers(self) -> tuple[PeerProgress, ...]:
        with self._lock:
            tally = {ip: _Tally(t.pieces, t.bytes, t.failed) for ip, t in self._tally.items()}
        endpoints = {bt[0]: f"{bt[0]}:{bt[1]}" for bt, _ in self.paid_specs}
        endpoints.update({ip: f"{ip}:{port}" for ip, port in self.free_peers})
        out = []
        for ip in sorted(set(tally) | set(self._paid)):
            t = tally.get(ip, _Tally())
            p = self._paid.get(ip)
            paid = p is not None and p.channel is not None
            out.append(
                PeerProgress(
                    endpoint=endpoints.get(ip, ip),
                    paid=paid,
                    rate=p.account.rate if p is not None and paid else 0,
                    pieces=t.pieces,
                    bytes=t.bytes,
                    units=p.channel.cumulative if p is not None and p.channel else 0,
                    failed_bytes=t.failed,
                    note=p.note if p is not None else "",
                )
            )
        return tuple(out)

    def snapshot(self) -> ProgressSnapshot:
        dl = self._dl
        done = total = rate = 0
        if dl is not None and self.info_hash:
            pr = dl.progress(self.info_hash)
            done, total, rate = pr.pieces_done, pr.pieces_total, pr.download_rate
        return ProgressSnapshot(
            info_hash=self.info_hash,
            pieces_done=done,
            pieces_total=total,
            download_rate=rate,
            spent=self.spent,
            locked=self.locked,
            budget=self.budget,
            peers=self._peers(),
        )

    @property
    def spent(self) -> int:
        return sum(p.channel.cumulative for p in self._paid.values() if p.channel is not None)

    def _summary(self, seconds: float, complete: bool) -> DownloadSummary:
        geo = self._geometry
        channels = tuple(
            {
                "channel_id": p.channel.channel_id.hex(),
                "payee": p.channel.record.payee,
                "payee_target": p.payee_target,
                "deposit": p.channel.deposit,
                "cumulative": p.channel.cumulative,
                "rate": p.account.rate,
                "status": p.channel.record.status_label,
                "errors": list(p.errors),
            }
            for p in self._paid.values()
            if p.channel is not None
        )
        return DownloadSummary(
            info_hash=self.info_hash,
            complete=complete,
            seconds=seconds,
            transfer_seconds=max(0.0, self._t_done - self._t_connect) if complete else 0.0,
            size=geo.total_size if geo else 0,
            pieces=geo.num_pieces if geo else 0,
            spent=self.spent,
            locked=self.locked,
            budget=self.budget,
            peers=self._peers(),
            channels=channels,
            close_mode=self.close_mode.value,
        )
