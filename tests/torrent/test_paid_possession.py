"""Proof of possession in the live flow: two paid seeders' reserves have grown (nobody else was
known to hold the torrent); a downloader pays both, completes, then answers both seeders'
reserve-price challenges from its own copy, and both reserves fall back to zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk.torrent.market import LinearGrowth
from client_sdk.torrent.paid import PaidDownloader, PaidSeeder, PaidSeederConfig
from client_sdk.torrent.session import sha256_file
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import Content
from tests.torrent.test_paid_flow import funded_key

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

GROWTH = LinearGrowth(1_000, 1, 10**9)  # 1,000 units per piece more every second
BID = 100_000


async def test_completed_downloader_proves_possession_and_reserves_fall_back(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    now = [1_000.0]
    seeders = [
        PaidSeeder(
            next(ips),
            SigningKey.generate(),
            ledger.target,
            tmp_path / f"payee{i}.db",
            config=PaidSeederConfig(reserve_growth=GROWTH, choke_interval=1.0),
            ledger_clock=ledger.clock,
            market_clock=lambda: now[0],
        )
        for i in range(2)
    ]
    try:
        hashes = {s.add(content.ti, content.seed_dir) for s in seeders}
        (ih,) = hashes
        for s in seeders:
            s.start()
        now[0] += 60  # a minute with no other holder known: the reserves grew
        assert [s.stats()["torrents"][ih]["reserve"] for s in seeders] == [60_000, 60_000]
        dl = PaidDownloader(
            key=funded_key(ledger),
            ledger_target=ledger.target,
            ip=next(ips),
            out_dir=tmp_path / "dl",
            source=content.ti,
            budget=10_000_000,
            seeders=[(s.bt_endpoint, s.payee_target) for s in seeders],
            rate=BID,
            timeout=30,
        )
        summary = await dl.arun()
        stats = [s.stats() for s in seeders]
    finally:
        for s in seeders:
            s.stop()
    assert summary.complete
    assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
    # Both were paid at their reserve (each had one bidder), then proven to.
    assert len(summary.peers) == 2
    for peer in summary.peers:
        assert peer.paid and peer.rate == 60_000, peer
        assert peer.possession == "accepted" and peer.reserve == 0, peer
    assert sum(p.bytes for p in summary.peers) == content.size
    # The clock has not moved since: the reserves are zero because of the proofs.
    assert [s["torrents"][ih]["reserve"] for s in stats] == [0, 0]
