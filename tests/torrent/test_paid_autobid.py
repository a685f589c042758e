"""The live autobid over real sessions: free data lowers what is left to download, so the bid
(spending rate x remaining balance / remaining bytes) creeps up; below a paid seeder's reserve
it is not sent and the user is told why; once it clears the reserve, the seeder is bid for,
paid, and the download completes."""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk.torrent.access import LegacyPeers
from client_sdk.torrent.market import RebidPolicy
from client_sdk.torrent.paid import PaidDownloader, ProgressSnapshot
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import sha256_file
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import Content
from tests.torrent.test_paid_flow import funded_key, paid_seeder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

BUDGET = 3_000_000


async def test_bid_rises_as_free_data_arrives_until_it_clears_the_reserve(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    piece = content.ti.piece_length()
    first_bid = BUDGET * piece // content.size
    reserve = first_bid * 2  # cleared once about half the bytes came for free
    free = Seeder(next(ips), upload_limit=400 * 1024)  # ~10 s for all of it alone
    free.wait_seeding(free.add(content.ti, content.seed_dir))
    seeder = paid_seeder(ledger, next(ips), tmp_path / "payee.db", legacy_peers=LegacyPeers.BLOCK)
    seeder.add(content.ti, content.seed_dir, reserve=reserve)
    seeder.start()
    try:
        dl = PaidDownloader(
            key=funded_key(ledger),
            ledger_target=ledger.target,
            ip=next(ips),
            out_dir=tmp_path / "dl",
            source=content.ti,
            budget=BUDGET,
            seeders=[(seeder.bt_endpoint, seeder.payee_target)],
            peers=[free.endpoint],
            rebid_interval=0.1,
            rebid_policy=RebidPolicy(min_interval_s=0.2, min_change_ppm=20_000),
            timeout=60,
        )
        snapshots: list[ProgressSnapshot] = []
        summary = await dl.arun(snapshots.append, interval=0.1)
        stats = seeder.stats()
    finally:
        seeder.stop()
        free.close()
    assert summary.complete
    assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
    # Every bid it sent while the download ran (once complete, it may withdraw: bid 0).
    bids = [b.bid for b in dl.bid_history if b.reason != "COMPLETE"]
    assert dl.bid_history[0].reason == "FIRST" and bids[0] == first_bid
    assert len(bids) >= 3 and bids == sorted(bids), bids  # it only ever rose
    assert bids[-1] >= reserve > bids[0]
    # Below the reserve the bid was not sent, and the user saw why.
    paid_ep = seeder.bt_endpoint
    early = [p for s in snapshots for p in s.peers if p.endpoint == paid_ep and not p.paid]
    assert early and early[0].free == "below reserve" and early[0].reserve == reserve
    assert "reserve 0." in early[0].note and "above your bid" in early[0].note, early[0].note
    # Then it cleared the reserve: a lone bidder pays the reserve, per verified piece.
    (peer,) = [p for p in summary.peers if p.endpoint == paid_ep]
    assert peer.paid and peer.rate == reserve and peer.free == ""
    # A piece whose blocks came from both peers counts whole to neither: bytes, not pieces.
    assert peer.bytes > 0 and peer.units == summary.spent > 0
    (free_peer,) = [p for p in summary.peers if p.endpoint == f"{free.ip}:{free.port}"]
    assert free_peer.free == "legacy" and free_peer.bytes > 0
    (sp,) = stats["peers"]
    assert sp["rate"] == reserve and sp["mode"] == "paid"
