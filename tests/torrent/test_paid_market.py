"""The bid market over real sessions: the uniform-price auction decides who pays and at what
rate; the reserve price grows and resets on a proof of possession sent over gRPC."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from client_sdk.p2p import PayeeClient
from client_sdk.torrent.market import LinearGrowth, Proof, answer_challenge
from client_sdk.torrent.paid import PaidDownloader, PaidSeeder, PaidSeederConfig
from client_sdk.torrent.paid.market_rpc import challenge_of, fetch_reserve, prove_possession
from client_sdk.torrent.session import sha256_file
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import Content
from tests.torrent.test_paid_flow import funded_key, paid_seeder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

RESERVE = 50_000
LOW, HIGH = 60_000, 200_000


async def test_higher_bid_wins_the_slot_at_the_uniform_price_loser_rides_optimistic(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    seeder = paid_seeder(ledger, next(ips), tmp_path / "payee.db", paid_slots=1)
    seeder.config = replace(seeder.config, reserve=RESERVE)
    ih = seeder.add(content.ti, content.seed_dir)
    seeder.start()
    low_key, high_key = funded_key(ledger), funded_key(ledger)
    low_ip, high_ip = next(ips), next(ips)

    def downloader(key, ip: str, rate: int, name: str) -> PaidDownloader:  # type: ignore[no-untyped-def]
        return PaidDownloader(
            key=key,
            ledger_target=ledger.target,
            ip=ip,
            port=6881,
            out_dir=tmp_path / name,
            source=content.ti,
            budget=10_000_000,
            seeders=[(seeder.bt_endpoint, seeder.payee_target)],
            rate=rate,
            timeout=30,
        )

    try:
        # The low bidder bids first and alone: it wins at the reserve price.
        client = PayeeClient(seeder.payee_target)
        alone = await client.bid(low_key.address, LOW, f"{low_ip}:6881", ih)
        await client.close()
        assert alone.accepted and alone.rate == RESERVE
        # The high bidder takes the only paid slot; the price is the highest losing bid.
        high = downloader(high_key, high_ip, HIGH, "high")
        high_run = asyncio.create_task(high.arun())
        deadline = time.monotonic() + 10
        while high.spent == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        low = downloader(low_key, low_ip, LOW, "low")
        high_sum, low_sum = await asyncio.gather(high_run, low.arun())
        stats = seeder.stats()
    finally:
        seeder.stop()
    assert stats["torrents"][ih]["rate"] == max(LOW, RESERVE)
    modes = {p["payer"]: p["mode"] for p in stats["peers"]}
    assert modes == {high_key.address: "paid", low_key.address: "free"}
    assert high_sum.complete and low_sum.complete
    for name in ("high", "low"):
        assert sha256_file(tmp_path / name / "payload.bin") == content.sha256
    (hp,) = high_sum.peers
    assert hp.paid and hp.rate == LOW
    assert high_sum.spent == LOW * content.num_pieces
    (lp,) = low_sum.peers
    assert not lp.paid and low_sum.spent == 0 and low_sum.channels == ()
    assert lp.bytes == content.size  # all of it through the optimistic slot, for free
    assert "lost" in lp.note


async def test_reserve_price_grows_and_resets_on_valid_proof_over_grpc(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    now = [1_000.0]
    seeder = PaidSeeder(
        next(ips),
        SigningKey.generate(),
        ledger.target,
        tmp_path / "payee.db",
        config=PaidSeederConfig(reserve_growth=LinearGrowth(1_000, 1, 10**9)),
        ledger_clock=ledger.clock,
        market_clock=lambda: now[0],
    )
    ih = seeder.add(content.ti, content.seed_dir)
    target = seeder.start()

    def read_chunk(piece: int, chunk: int) -> bytes:
        with content.path.open("rb") as fh:
            fh.seek(piece * content.ti.piece_length() + chunk * 16 * 1024)
            return fh.read(min(16 * 1024, content.ti.piece_size(piece) - chunk * 16 * 1024))

    try:
        first = await fetch_reserve(target, ih)
        assert first is not None and first.reserve_price == 0
        now[0] += 60
        grown = await fetch_reserve(target, ih)
        assert grown.reserve_price == 60_000
        assert grown.challenge_nonce == first.challenge_nonce

        wrong = Proof(
            grown.challenge_nonce, grown.challenge_piece, grown.challenge_chunk, b"\0" * 32
        )
        rejected = await prove_possession(target, ih, wrong)
        assert not rejected.accepted and rejected.reason == "WRONG_HASH"
        assert rejected.announcement.reserve_price == 60_000  # no reset

        proof = answer_challenge(challenge_of(grown), read_chunk)
        accepted = await prove_possession(target, ih, proof)
        assert accepted.accepted and accepted.reason == ""
        assert accepted.announcement.reserve_price == 0
        assert accepted.announcement.challenge_nonce != grown.challenge_nonce
        replay = await prove_possession(target, ih, proof)
        assert not replay.accepted and replay.reason == "REPLAY"

        now[0] += 5
        assert (await fetch_reserve(target, ih)).reserve_price == 5_000
        assert seeder.stats()["torrents"][ih]["reserve"] == 5_000
        assert await fetch_reserve(target, "cd" * 20) is None  # not seeded here
    finally:
        seeder.stop()
