"""A payer that stops paying is throttled within the exposure bound, then banned."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from client_sdk.torrent.paid import CloseMode, PaidDownloader
from client_sdk.torrent.session import BLOCK_SIZE
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import Content
from tests.torrent.test_paid_flow import RATE, funded_key, paid_seeder, settled

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_payer_out_of_budget_is_cut_off_then_banned(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    # 2 MiB/s keeps the gate's reaction lag at zero, so the configured bound holds exactly.
    seeder = paid_seeder(
        ledger, next(ips), tmp_path / "payee.db", upload_limit=2 * 1024 * 1024, payment_timeout=1.0
    )
    ih = seeder.add(content.ti, content.seed_dir)
    seeder.start()
    paid_pieces = 10  # the payee's minimum deposit is 1 BTT = 10 pieces at RATE
    dl_ip = next(ips)
    dl = PaidDownloader(
        key=funded_key(ledger),
        ledger_target=ledger.target,
        ip=dl_ip,
        out_dir=tmp_path / "dl",
        source=content.ti,
        budget=paid_pieces * RATE,
        seeders=[(seeder.bt_endpoint, seeder.payee_target)],
        rate=RATE,
        close_mode=CloseMode.LEAVE_TO_PAYEE,
        timeout=5,
    )
    task = asyncio.create_task(dl.arun())
    try:
        deadline = time.monotonic() + 20
        while not seeder.bans and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert seeder.bans and seeder.bans[0][0] == dl_ip, seeder.bans
        acct = seeder.seeder.gate.account(dl_ip, ih)
        assert acct is not None
        piece = content.ti.piece_length()
        assert acct.paid == paid_pieces * piece
        gate = seeder.seeder.gate
        bound = gate.window + gate.inflight + gate.inflight // 2 + BLOCK_SIZE
        assert 0 < acct.sent - acct.paid <= bound, acct
        assert acct.sent_complete - acct.paid < gate.window + piece, acct
        assert seeder.seeder.access.is_banned(dl_ip)
        summary = await task
        assert not summary.complete
        assert summary.spent == paid_pieces * RATE == summary.locked == summary.budget
        (peer,) = [p for p in summary.peers if p.paid]
        assert "budget spent" in peer.note
        assert peer.banned == "by the payee"  # pushed on its Watch stream
        (ch,) = summary.channels
    finally:
        if not task.done():
            task.cancel()
        seeder.stop()
    # Shutdown closed the channel with the best state: the whole deposit to the payee.
    on_ledger = await settled(ledger, ch["channel_id"])
    assert on_ledger.paid_to_payee == paid_pieces * RATE
