"""The payee pushes a changed rate to the payer as it happens: a paying winner's uniform price
rises when a second bidder loses to it, and the payer pays the new rate from then on without
having bid again (its bid is fixed)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from client_sdk.p2p import PayeeClient
from client_sdk.torrent.paid import PaidDownloader
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import Content
from tests.torrent.test_paid_flow import funded_key, paid_seeder, stalled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

RESERVE, LOSING, BID = 50_000, 80_000, 200_000


async def test_a_rate_change_reaches_the_paying_winner_at_once(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    seeder = paid_seeder(
        ledger, next(ips), tmp_path / "payee.db", paid_slots=1, upload_limit=512 * 1024
    )
    ih = seeder.add(content.ti, content.seed_dir, reserve=RESERVE)
    seeder.start()
    dl = PaidDownloader(
        key=funded_key(ledger),
        ledger_target=ledger.target,
        ip=next(ips),
        out_dir=tmp_path / "dl",
        source=content.ti,
        budget=10_000_000,
        seeders=[(seeder.bt_endpoint, seeder.payee_target)],
        rate=BID,
        timeout=60,
    )
    rival = funded_key(ledger)
    client = PayeeClient(seeder.payee_target)
    try:
        run = asyncio.create_task(dl.arun())
        deadline = time.monotonic() + 20
        while dl.spent == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        spent_alone = dl.spent
        assert 0 < spent_alone < BID  # paying the reserve: the only bidder
        lost = await client.bid(rival.address, LOSING, f"{next(ips)}:6881", ih)
        assert not lost.accepted and lost.reason == "OUTBID"
        summary = await run
        stats = seeder.stats()
        why = "" if summary.complete else stalled(seeder, summary)
    finally:
        await client.close()
        seeder.stop()
    assert summary.complete, why
    (peer,) = summary.peers
    # The uniform price is now the highest losing bid; nobody re-bid: the payee pushed it.
    assert peer.paid and peer.rate == LOSING
    assert dl.bid_history == []  # a fixed bid, never sent again
    pieces = content.num_pieces
    assert RESERVE * pieces < summary.spent < LOSING * pieces
    assert stats["torrents"][ih]["rate"] == LOSING
