"""Paid downloads end to end: real libtorrent sessions on 127.0.0.x, a real payee service and a
real ledger. The payer pays per verified piece; the payee closes with the best state."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.ledger_client import AsyncLedgerClient
from client_sdk.torrent.paid import CloseMode, PaidDownloader, PaidSeeder, PaidSeederConfig
from client_sdk.torrent.paid.shares import piece_payments
from client_sdk.torrent.session import sha256_file
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness
from tests.torrent.badseeder import start_bad_seeder
from tests.torrent.conftest import Content

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

RATE = 100_000  # units per piece
FUNDS = 50_000_000


def paid_seeder(ledger: LedgerHarness, ip: str, db: Path, **config: object) -> PaidSeeder:
    cfg = PaidSeederConfig(reserve=RATE, choke_interval=1.0, **config)  # type: ignore[arg-type]
    return PaidSeeder(
        ip, SigningKey.generate(), ledger.target, db, config=cfg, ledger_clock=ledger.clock
    )


def funded_key(ledger: LedgerHarness) -> SigningKey:
    key = SigningKey.generate()
    ledger.fund(key.address, FUNDS)
    return key


def stalled(seeder: PaidSeeder, summary: object) -> str:
    """Why a paid download stalled, as both sides see it (for a failure message)."""
    gate = seeder.seeder.gate
    return (
        f"incomplete: {summary}\nseeder: {seeder.stats()}\ngate: {gate.stats()} "
        f"throttles={gate.throttle_events} drains={gate.drain_releases}"
    )


async def settled(ledger: LedgerHarness, channel_id: str) -> pb.Channel:
    async with AsyncLedgerClient(ledger.target) as client:
        return await client.get_channel(bytes.fromhex(channel_id))


async def test_paid_download_pays_rate_per_piece_and_payee_close_balances(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    seeder = paid_seeder(ledger, next(ips), tmp_path / "payee.db")
    ih = seeder.add(content.ti, content.seed_dir)
    seeder.start()
    payer = funded_key(ledger)
    try:
        dl = PaidDownloader(
            key=payer,
            ledger_target=ledger.target,
            ip=next(ips),
            out_dir=tmp_path / "dl",
            source=content.ti,
            budget=5_000_000,
            seeders=[(seeder.bt_endpoint, seeder.payee_target)],
            rate=RATE,
            close_mode=CloseMode.LEAVE_TO_PAYEE,
            timeout=30,
        )
        snapshots = []
        summary = await dl.arun(snapshots.append)
        assert summary.complete and summary.info_hash == ih
        assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
        (peer,) = summary.peers
        assert peer.paid and peer.rate == RATE and peer.pieces == content.num_pieces
        assert peer.units == RATE * content.num_pieces == summary.spent
        assert snapshots[-1].pieces_done == content.num_pieces
        assert summary.locked <= summary.budget
        (ch,) = summary.channels
        stats = seeder.stats()
        (sp,) = stats["peers"]
        assert sp["mode"] == "paid" and sp["whole_pieces"] == content.num_pieces
        assert sp["channels"][0]["best_cumulative"] == RATE * content.num_pieces
        assert sp["channels"][0]["owed"] == RATE * content.num_pieces
    finally:
        seeder.stop()  # closes every channel with its best state
    on_ledger = await settled(ledger, ch["channel_id"])
    assert on_ledger.status == pb.CHANNEL_STATUS_SETTLED
    assert on_ledger.paid_to_payee == RATE * content.num_pieces
    async with AsyncLedgerClient(ledger.target) as client:
        audit = await client.audit()
        assert audit.balanced and audit.channel_escrow == 0
        assert await client.balance(payer.address) == FUNDS - RATE * content.num_pieces


async def test_failed_pieces_are_never_paid_and_bad_seeder_is_banned(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    bad_dir = tmp_path / "bad"
    shutil.copytree(content.seed_dir, bad_dir)
    bad, _ = start_bad_seeder(next(ips), content.ti, bad_dir, list(range(content.num_pieces)))
    seeder = paid_seeder(ledger, next(ips), tmp_path / "payee.db")
    seeder.add(content.ti, content.seed_dir)
    seeder.start()
    payer = funded_key(ledger)
    try:
        dl = PaidDownloader(
            key=payer,
            ledger_target=ledger.target,
            ip=next(ips),
            out_dir=tmp_path / "dl",
            source=content.ti,
            budget=5_000_000,
            seeders=[(seeder.bt_endpoint, seeder.payee_target)],
            peers=[bad.endpoint],
            rate=RATE,
            timeout=30,
        )
        summary = await dl.arun()
        assert summary.complete, stalled(seeder, summary)
        assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
        assert dl.failed_pieces, "the bad seeder sent no bad piece"
        assert dl._dl is not None and dl._dl.access.is_banned(bad.ip)
        # Exactly what the verified pieces earned; a failed piece adds nothing.
        expected = sum(
            piece_payments(
                RATE, {seeder.ip: shares.get(seeder.ip, 0)}, content.ti.piece_size(piece)
            ).get(seeder.ip, 0)
            for piece, shares in dl.verified_shares
        )
        assert sorted(p for p, _ in dl.verified_shares) == list(range(content.num_pieces))
        assert summary.spent == expected <= RATE * content.num_pieces
        # The paid seeder's blocks in failed pieces were forgiven, within the cap.
        (mine,) = seeder.stats()["peers"]
        failed_from_paid = sum(
            p.failed_bytes for p in summary.peers if p.endpoint.startswith(f"{seeder.ip}:")
        )
        cap = seeder.config.max_forgiven_pieces * content.ti.piece_length()
        assert mine["forgiven_bytes"] <= min(failed_from_paid, cap)
        (ch,) = summary.channels
        assert ch["status"] == "settled"  # cooperative close on finish
        on_ledger = await settled(ledger, ch["channel_id"])
        assert on_ledger.paid_to_payee == expected
    finally:
        seeder.stop()
        bad.close()
    async with AsyncLedgerClient(ledger.target) as client:
        assert (await client.audit()).balanced
