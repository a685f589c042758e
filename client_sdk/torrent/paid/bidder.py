"""The paid downloader's side of the market: the autobid fed live, bids, re-bids and channels.

Per paid seeder: ask its reserve; send the bid only when it clears the reserve (else the peer
stays free, with the reason shown); open a channel when the bid wins. The autobid is fed what
was spent and what is left to download on every round (`_rebid_all`, every `rebid_interval`
seconds); `Autobidder.poll` applies the re-bid policy (at most once per `min_interval_s`, only
when the bid moved by more than `min_change_ppm`; at once after a change of budget or spending
rate), and a moved bid goes to every paid seeder of the torrent. Seeders not paid yet are tried
again when the bid now clears their reserve or has risen past a lost auction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from client_sdk.channel import ChannelError, PayerChannel, PayerStore
from client_sdk.channel.errors import BidRejected
from client_sdk.ledger_client import AsyncLedgerClient, LedgerError
from client_sdk.p2p import PayeeClient
from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.market import Autobidder, InfoHash, SpendingRate, TorrentNeed
from client_sdk.torrent.paid.bidding import (
    TOO_FREQUENT,
    BidState,
    FreeReason,
    acceptable_rate,
    btt_text,
    may_bid,
    payee_reason,
    worth_retrying,
)
from client_sdk.torrent.paid.chunks import chunk_reader
from client_sdk.torrent.paid.market_rpc import fetch_reserve
from client_sdk.torrent.paid.prover import prove_to
from client_sdk.torrent.paid.spending import Budget
from client_sdk.torrent.paid.state import BidChange, Endpoint, PaidPeer, TorrentState
from client_sdk.tracker.discovery import BuyerDiscovery
from core.crypto import SigningKey

log = logging.getLogger(__name__)


class Bidding:
    """Mixed into `PaidDownloader`: the state below is its."""

    if TYPE_CHECKING:
        key: SigningKey
        payee_credentials: grpc.ChannelCredentials | None
        out_dir: Path
        fixed_rate: int | None
        autobidder: Autobidder
        bid_history: list[BidChange]
        discovery: BuyerDiscovery | None
        _downloads: list[TorrentState]
        _by_hash: dict[str, TorrentState]
        _budget: Budget
        _dl: Downloader | None
        _ledger: AsyncLedgerClient | None
        _store: PayerStore | None
        _loop: asyncio.AbstractEventLoop | None
        _opening: set[asyncio.Task[None]]
        _me: str
        _recorded_spent: int
        _moved: dict[str, int]
        _rebid_now: bool
        _t0: float

        @property
        def spent(self) -> int: ...
        def _all_paid(self) -> list[PaidPeer]: ...
        def _pay_loop(self, d: TorrentState, p: PaidPeer) -> Coroutine[Any, Any, None]: ...
        def _watch(self, d: TorrentState, p: PaidPeer) -> Coroutine[Any, Any, None]: ...

    def _left(self, d: TorrentState) -> int:
        """Bytes still missing (all of them while libtorrent is still checking the files; 1
        while a magnet's metadata is unknown: a tracker must not take us for a seed)."""
        if self._dl is None or d.geometry is None:
            return 1
        st = self._dl.handle(d.info_hash).status()
        wanted = int(st.total_wanted) or d.geometry.total_size
        return max(0, wanted - int(st.total_wanted_done))

    # ---------------------------------------------------------------- opening

    def _needs(self) -> list[TorrentNeed]:
        needs = []
        for d in self._downloads:
            geo = d.geometry
            piece = geo.piece_length if geo else 256 * 1024
            remaining = self._left(d) if geo else piece * 1024
            needs.append(TorrentNeed(InfoHash(bytes.fromhex(d.info_hash)), piece, remaining))
        return needs

    def _bid_for(self, d: TorrentState) -> int:
        """The bid for `d` now: the fixed rate, or the autobid's (fed first)."""
        if not d.bidding:
            return 0
        if self.fixed_rate is not None:
            return self.fixed_rate
        self._poll_autobid()
        return self.autobidder.current_bid(InfoHash(bytes.fromhex(d.info_hash))) or 0

    def _poll_autobid(self) -> None:
        """Feed the autobid what was spent and what is left to download (every torrent shares
        the balance); the bids it decides to send wait in `_moved` for `_rebid_all`."""
        spent = self.spent
        if spent > self._recorded_spent:
            self.autobidder.record_spent(spent - self._recorded_spent)
            self._recorded_spent = spent
        for u in self.autobidder.poll(self._needs()):
            ih, bid = bytes(u.info_hash).hex(), u.rate_per_piece_units or 0
            self._moved[ih] = bid
            at = round(time.perf_counter() - self._t0, 3)
            self.bid_history.append(BidChange(at, ih, bid, u.reason.value))

    async def _open(self, d: TorrentState, bt: Endpoint, target: str) -> None:
        p = PaidPeer(bt, target, PayeeClient(target, credentials=self.payee_credentials))
        d.paid[bt[0]] = p
        d.endpoints[bt[0]] = f"{bt[0]}:{bt[1]}"
        await self._try_open(d, p)

    async def _try_open(self, d: TorrentState, p: PaidPeer) -> bool:
        """Ask the seeder's reserve; bid when the bid clears it; open the channel when the bid
        wins. Returns whether the seeder is now paid; otherwise `p.free` says why not."""
        ledger, store = self._ledger, self._store
        assert ledger is not None and store is not None
        target = p.payee_target
        p.opening = True
        try:
            reserve = await fetch_reserve(target, d.info_hash, credentials=self.payee_credentials)
            p.reserve = int(reserve.reserve_price) if reserve is not None else None
            p.bid = self._bid_for(d)
            why = may_bid(p.bid, p.reserve)
            if why is not None:
                return self._free(p, why)  # not sent: the auction would only refuse it
            won = await p.client.bid(self.key.address, p.bid, self._me, d.info_hash)
            p.sent_bid = p.bid
            if not won.accepted:
                return self._free(p, payee_reason(won.reason))
            if not acceptable_rate(int(won.rate), p.bid):
                await p.client.bid(self.key.address, 0, self._me, d.info_hash)
                return self._free(p, FreeReason.NO_CHANNEL, f"rate {won.rate} above our bid")
            # From here the seeder serves us as a payer: what it delivers while the channel
            # opens is owed too, and paid once it is open.
            p.account.rate = int(won.rate)
            deposit = self._budget.deposit_for(
                int(won.rate), int(won.terms.min_deposit), self._pieces(d)
            )
            if deposit is None:
                # Withdraw: a winner that never pays would be cut off and banned.
                p.account.rate = 0
                await p.client.bid(self.key.address, 0, self._me, d.info_hash)
                return self._free(
                    p, FreeReason.NO_CHANNEL, "budget below the payee's minimum deposit"
                )
            self._budget.lock(deposit)
            try:
                p.channel = await PayerChannel.open(
                    key=self.key,
                    ledger=ledger,
                    payee=p.client,
                    store=store,
                    info_hash=d.info_hash,
                    peer_endpoint=self._me,
                    bid=p.bid,
                    deposit=deposit,
                )
            except BaseException:
                self._budget.unlock(deposit)  # the open failed before or at the lock
                p.account.rate = 0
                raise
            p.account.rate = p.channel.rate
            p.free, p.note = None, ""
            p.worker = asyncio.create_task(self._pay_loop(d, p), name=f"pay-{target}")
            p.watcher = asyncio.create_task(self._watch(d, p), name=f"watch-{target}")
            p.wake.set()
            return True
        except BidRejected as exc:
            return self._free(p, FreeReason.OUTBID, f"bid lost ({exc})")
        except (ChannelError, LedgerError) as exc:
            p.errors.append(str(exc))
            return self._free(p, FreeReason.NO_CHANNEL, f"no channel: {exc}")
        except grpc.RpcError as exc:  # the market calls (down, or TLS on one side only)
            code, details = exc.code(), exc.details()  # type: ignore[attr-defined]
            note = f"payee {target} unreachable ({code.name}: {details})"
            p.errors.append(note)
            return self._free(p, FreeReason.NO_CHANNEL, note)
        finally:
            p.opening = False

    @staticmethod
    def _free(p: PaidPeer, why: FreeReason, detail: str = "") -> bool:
        p.free = why
        p.tried = BidState(p.bid, p.reserve, why)
        p.note = f"{detail}: free peer" if detail else p.tried.note()
        return False

    def _pieces(self, d: TorrentState) -> int:
        return d.geometry.num_pieces if d.geometry else 64

    async def _rebid_all(self) -> None:
        """Send the autobid's new bids (`Autobidder.poll` applies the re-bid policy) and try
        again where we do not pay yet: the bid may now clear the reserve or win."""
        if self.fixed_rate is None:
            self._poll_autobid()
        moved, self._moved = self._moved, {}
        for d in self._downloads:
            if not d.bidding:
                continue
            new = moved.get(d.info_hash)
            if new and self.discovery is not None:
                self.discovery.set_bid(d.info_hash, new)
            for p in list(d.paid.values()):
                if p.opening:
                    continue
                if p.channel is None:
                    self._retry(d, p)
                    continue
                if new:
                    p.bid = new
                if p.bid != p.sent_bid:
                    await self._send_bid(d, p)

    async def _send_bid(self, d: TorrentState, p: PaidPeer) -> None:
        """A paid seeder's new bid; the payee pushes the rate that follows (Watch)."""
        try:
            won = await p.client.bid(self.key.address, p.bid, self._me, d.info_hash)
        except ChannelError as exc:
            log.info("re-bid to %s failed: %s", p.payee_target, exc)
            return
        if won.reason == TOO_FREQUENT:
            return  # the payee keeps the earlier bid for now: sent again on a later round
        p.sent_bid = p.bid
        if won.accepted and acceptable_rate(int(won.rate), p.bid):
            p.account.rate = int(won.rate)

    def _retry(self, d: TorrentState, p: PaidPeer) -> None:
        """Try a seeder we do not pay again, in the background, when it is worth it."""
        if p.tried is None or self._loop is None:
            return
        bid = self.fixed_rate if self.fixed_rate is not None else self._current_bid(d)
        # The reserve may have fallen since (a proof of possession): the attempt asks again.
        if p.tried.free is not FreeReason.BELOW_RESERVE and not worth_retrying(
            p.tried, bid, p.tried.reserve
        ):
            return
        p.opening = True
        task = self._loop.create_task(self._retry_open(d, p))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _retry_open(self, d: TorrentState, p: PaidPeer) -> None:
        if await self._try_open(d, p) and self._dl is not None:
            self._dl.connect(d.info_hash, [p.bt])  # a seeder that blocks non-payers dropped us

    def _current_bid(self, d: TorrentState) -> int:
        return self.autobidder.current_bid(InfoHash(bytes.fromhex(d.info_hash))) or 0

    # ---------------------------------------------------------------- the user's controls

    def set_budget(self, budget: int) -> None:
        """Change the budget while the download runs: the autobid re-bids at once, and
        payments stopped for want of budget resume. Event loop."""
        if budget < self._budget.locked:
            raise ValueError(
                f"budget {btt_text(budget)} is below the {btt_text(self._budget.locked)} "
                "already locked in channels"
            )
        self._budget.budget = budget
        self.autobidder.set_budget(budget)
        for p in self._all_paid():
            if p.account.starved:
                p.account.starved = False
                p.note = ""
                p.wake.set()
        self._user_changed()

    async def _prove(self, d: TorrentState) -> None:
        """We hold the whole torrent: answer every paid seeder's reserve-price challenge, so
        their reserves fall back (the content is not rare)."""
        if self._dl is None or not d.paid:
            return
        ti = self._dl.handle(d.info_hash).torrent_file()
        if ti is None:
            return
        read = chunk_reader(ti, self.out_dir)
        peers = list(d.paid.values())
        results = await asyncio.gather(
            *(
                prove_to(p.payee_target, d.info_hash, read, credentials=self.payee_credentials)
                for p in peers
            )
        )
        for p, result in zip(peers, results, strict=True):
            p.proof = result
            if result.reserve is not None:
                p.reserve = result.reserve

    def current_bids(self) -> dict[str, int]:
        """The bid in force per torrent being bid on (info hash -> units per piece)."""
        return {
            d.info_hash: self.fixed_rate if self.fixed_rate is not None else self._current_bid(d)
            for d in self._downloads
            if d.bidding and d.info_hash
        }

    def set_spending_rate(self, rate: SpendingRate, info_hash: str | None = None) -> None:
        """Change the spending rate (of every torrent, or of one) while the download runs: the
        autobid re-bids at once. Event loop."""
        if info_hash is None:
            self.autobidder.set_spending_rate(rate)
        elif info_hash in self._by_hash:
            self.autobidder.set_torrent_spending_rate(InfoHash(bytes.fromhex(info_hash)), rate)
        else:
            raise ValueError(f"not downloading {info_hash}")
        self._user_changed()

    def _user_changed(self) -> None:
        """The autobid decides the new bids now; the download loop sends them at once."""
        if self.fixed_rate is None:
            self._poll_autobid()
        self._rebid_now = True
