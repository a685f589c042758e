"""Paid and free peers finding each other through a real `btt tracker` process alone: real
libtorrent sessions on 127.0.x.y, a real ledger and payee services, no hand-given peers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import libtorrent as lt
import pytest

from client_sdk.torrent.access import LegacyPeers
from client_sdk.torrent.paid import PaidDownloader, PaidSeeder, PaidSeederConfig, Wanted
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import sha256_file
from client_sdk.tracker import Announce, TrackerClient
from client_sdk.tracker.announcer import BidAnnouncer, Offer
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness
from tests.tracker.conftest import TrackerProcess, free_port, next_ip, shared_file

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

FUNDS = 50_000_000
RESERVE = 1_000


def paid_seeder(ledger: LedgerHarness, db: Path, **config: object) -> PaidSeeder:
    cfg = PaidSeederConfig(reserve=RESERVE, choke_interval=1.0, **config)  # type: ignore[arg-type]
    return PaidSeeder(
        next_ip(), SigningKey.generate(), ledger.target, db, config=cfg, ledger_clock=ledger.clock
    )


def funded(ledger: LedgerHarness) -> SigningKey:
    key = SigningKey.generate()
    ledger.fund(key.address, FUNDS)
    return key


def downloader(
    ledger: LedgerHarness, key: SigningKey, out: Path, source: object, **kw: object
) -> PaidDownloader:
    return PaidDownloader(
        key=key,
        ledger_target=ledger.target,
        ip=kw.pop("ip", None) or next_ip(),  # type: ignore[arg-type]
        out_dir=out,
        source=source,  # type: ignore[arg-type]
        budget=kw.pop("budget", 5_000_000),  # type: ignore[arg-type]
        timeout=kw.pop("timeout", 60),  # type: ignore[arg-type]
        rebid_interval=1.0,
        **kw,  # type: ignore[arg-type]
    )


async def test_paid_and_free_seeders_are_found_through_the_tracker_alone(
    tracker_process: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    shared = shared_file(tmp_path, 4 * 1024 * 1024 + 99, [tracker_process.announce])
    # Both seeders are slow enough that neither can deliver everything before the other joins.
    seller = paid_seeder(ledger, tmp_path / "payee.db", upload_limit=1 << 20)
    ih = seller.add(shared.ti, shared.data_dir)
    seller.start()
    free = Seeder(next_ip(), upload_limit=1 << 20)
    free.add(shared.ti, shared.data_dir)
    try:
        dl = downloader(ledger, funded(ledger), tmp_path / "dl", shared.torrent, rate=5_000)
        summary = await dl.arun()
        assert summary.complete and summary.info_hash == ih
        assert sha256_file(tmp_path / "dl" / shared.name) == sha256_file(
            shared.data_dir / shared.name
        )
        by_ip = {p.endpoint.rsplit(":", 1)[0]: p for p in summary.peers}
        paid, plain = by_ip[seller.ip], by_ip[free.ip]
        assert paid.paid and paid.rate == RESERVE and paid.pieces > 0
        assert paid.units == summary.spent > 0
        assert not plain.paid and plain.pieces > 0 and plain.units == 0
        (ch,) = summary.channels
        assert ch["payee_target"] == seller.payee_target  # learnt from the tracker's bidpeers
    finally:
        seller.stop()
        free.close()


async def test_bids_announced_by_downloaders_order_the_list_and_fill_bidscrape(
    tracker_process: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    # No seeder at all: the downloaders wait and keep their bids announced meanwhile.
    shared = shared_file(tmp_path, 1024 * 1024, [tracker_process.announce])
    low = downloader(ledger, funded(ledger), tmp_path / "a", shared.torrent, rate=300, timeout=30)
    high = downloader(ledger, funded(ledger), tmp_path / "b", shared.torrent, rate=700, timeout=30)
    runs = [asyncio.create_task(d.arun()) for d in (low, high)]
    try:
        async with TrackerClient(local_ip=next_ip()) as seller:
            deadline = time.monotonic() + 30
            while True:
                reply = await seller.announce(
                    tracker_process.announce,
                    Announce(
                        shared.info_hash, b"-XX0001-000000000001", 6881, left=0, bid_order=True
                    ),
                )
                if len(reply.bid_peers) == 2 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert [(b.ip, b.bid) for b in reply.bid_peers] == [(high.ip, 700), (low.ip, 300)]
            assert [ip for ip, _ in reply.peers] == [high.ip, low.ip]
            bids = await seller.bidscrape(tracker_process.announce, [shared.info_hash])
            assert [(b.info_hash, b.highest, b.count) for b in bids] == [
                (shared.info_hash.hex(), 700, 2)
            ]
            assert 0 <= bids[0].age < 30
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)


async def test_a_tracker_bid_far_above_the_real_one_gets_the_peer_dropped(
    fast_tracker: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    shared = shared_file(tmp_path, 2 * 1024 * 1024, [fast_tracker.announce])
    seller = paid_seeder(ledger, tmp_path / "payee.db", upload_limit=256 * 1024)
    seller.add(shared.ti, shared.data_dir)
    seller.start()
    liar_ip = next_ip()
    liar_port = free_port(liar_ip)
    # The tracker is told this peer bids 100 times what it will really bid.
    lie = BidAnnouncer(liar_ip, liar_port, lambda *_: None)
    lie.track(
        shared.info_hash, [fast_tracker.announce], lambda: shared.size, Offer(bid=RESERVE * 100)
    )
    lie.start()
    try:
        # Its own torrent names no tracker: only the lie is announced for it.
        bare = lt.torrent_info(lt.bencode({"info": lt.bdecode(shared.ti.info_section())}))
        assert str(bare.info_hashes().v1) == shared.info_hash.hex()
        dl = downloader(
            ledger,
            funded(ledger),
            tmp_path / "dl",
            bare,
            ip=liar_ip,
            port=liar_port,
            seeders=[(seller.bt_endpoint, seller.payee_target)],
            rate=RESERVE,
            timeout=15,
        )
        run = asyncio.create_task(dl.arun())
        deadline = time.monotonic() + 20
        while not seller.bans and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert seller.bans == [
            (liar_ip, f"tracker claimed a bid of {RESERVE * 100}, a real bid of {RESERVE}")
        ]
        assert seller.seeder.access.is_banned(liar_ip)
        summary = await run
        assert not summary.complete
    finally:
        await lie.stop()
        seller.stop()


async def test_two_torrents_one_session_each_with_its_reserve_and_market(
    tracker_process: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    a = shared_file(tmp_path / "a", 1024 * 1024 + 5, [tracker_process.announce], seed=1)
    b = shared_file(tmp_path / "b", 2 * 1024 * 1024 + 7, [tracker_process.announce], seed=2)
    # Only bidders are served, so every piece is paid for at its torrent's price.
    seller = paid_seeder(ledger, tmp_path / "payee.db", legacy_peers=LegacyPeers.BLOCK)
    ih_a = seller.add(a.ti, a.data_dir, reserve=100)
    ih_b = seller.add(b.ti, b.data_dir, reserve=300)
    seller.start()
    try:
        dl = PaidDownloader(
            key=funded(ledger),
            ledger_target=ledger.target,
            ip=next_ip(),
            out_dir=tmp_path / "dl",
            sources=[Wanted(a.torrent), Wanted(b.torrent)],
            budget=5_000_000,
            timeout=60,
        )
        summary = await dl.arun_all()
        assert summary.complete
        got = {t.info_hash: t for t in summary.torrents}
        assert {ih_a, ih_b} == set(got)
        # A lone bidder pays the reserve: each torrent's own.
        assert [c["rate"] for c in got[ih_a].channels] == [100]
        assert [c["rate"] for c in got[ih_b].channels] == [300]
        assert got[ih_a].spent == 100 * got[ih_a].pieces
        assert got[ih_b].spent == 300 * got[ih_b].pieces
        assert summary.spent == got[ih_a].spent + got[ih_b].spent
        stats = seller.stats()
        assert (
            stats["torrents"][ih_a]["reserve"] == 100 and stats["torrents"][ih_b]["reserve"] == 300
        )
    finally:
        seller.stop()


async def test_bidding_off_for_one_torrent_pays_nothing_for_it_and_announces_no_bid(
    tracker_process: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    a = shared_file(tmp_path / "a", 1024 * 1024 + 11, [tracker_process.announce], seed=3, name="a")
    b = shared_file(tmp_path / "b", 1024 * 1024 + 13, [tracker_process.announce], seed=4, name="b")
    # Peers that never bid are served (the default): the torrent not bid on still arrives.
    # Slow enough that the bidder's channel opens before the legacy slot has given it all.
    seller = paid_seeder(ledger, tmp_path / "payee.db", upload_limit=512 * 1024)
    ih_a = seller.add(a.ti, a.data_dir, reserve=200)
    ih_b = seller.add(b.ti, b.data_dir, reserve=200)
    seller.start()
    try:
        dl = PaidDownloader(
            key=funded(ledger),
            ledger_target=ledger.target,
            ip=next_ip(),
            out_dir=tmp_path / "dl",
            sources=[Wanted(a.torrent), Wanted(b.torrent, bidding=False)],
            budget=5_000_000,
            rate=1_000,
            timeout=60,
            rebid_interval=1.0,
        )
        run = asyncio.create_task(dl.arun_all())
        async with TrackerClient(local_ip=next_ip()) as probe:
            deadline = time.monotonic() + 30
            while not (bids := await probe.bidscrape(tracker_process.announce, [a.info_hash])):
                assert time.monotonic() < deadline, "no bid announced for the torrent bid on"
                await asyncio.sleep(0.2)
            assert [x.info_hash for x in bids] == [ih_a] and bids[0].highest >= 200
            assert await probe.bidscrape(tracker_process.announce, [b.info_hash]) == []
        summary = await run
        assert summary.complete
        got = {t.info_hash: t for t in summary.torrents}
        # The torrent bid on is paid for at its reserve, a lone bidder's price (pieces that came
        # before the channel opened came through the legacy slots, as for anyone).
        paid = [p for p in got[ih_a].peers if p.paid]
        assert paid and got[ih_a].spent == sum(p.units for p in paid) > 0
        assert got[ih_a].spent % 200 == 0
        assert [c["rate"] for c in got[ih_a].channels] == [200]
        assert got[ih_b].spent == 0 and got[ih_b].channels == ()
        assert got[ih_b].peers and all(not p.paid for p in got[ih_b].peers)
        assert summary.spent == got[ih_a].spent
        assert sha256_file(tmp_path / "dl" / b.name) == sha256_file(b.data_dir / b.name)
    finally:
        seller.stop()
