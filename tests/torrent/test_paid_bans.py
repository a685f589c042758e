"""Bans, both ways, over a real payee service and ledger: a payer whose payment updates keep
being refused is banned for a period, and it shows in the seeder's stats and its Watch stream
(the payer is told it is choked because banned)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel import PayerChannel, PayerStore, sign_state
from client_sdk.ledger_client import AsyncLedgerClient
from client_sdk.p2p import PayeeClient
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import Content
from tests.torrent.test_paid_flow import RATE, funded_key, paid_seeder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_repeated_refused_payments_ban_the_payer(
    ledger: LedgerHarness, content: Content, tmp_path: Path, ips
) -> None:
    seeder = paid_seeder(ledger, next(ips), tmp_path / "payee.db", max_payment_failures=3)
    ih = seeder.add(content.ti, content.seed_dir)
    seeder.start()
    key = funded_key(ledger)
    payer_ip = next(ips)
    endpoint = f"{payer_ip}:6881"
    client = PayeeClient(seeder.payee_target)
    store = PayerStore(tmp_path / "payer.db")
    try:
        won = await client.bid(key.address, RATE, endpoint, ih)
        assert won.accepted and won.rate == RATE
        async with AsyncLedgerClient(ledger.target, key) as lc:
            channel = await PayerChannel.open(
                key=key,
                ledger=lc,
                payee=client,
                store=store,
                info_hash=ih,
                peer_endpoint=endpoint,
                bid=RATE,
                deposit=2_000_000,
            )
        updates: list[ppb.ServiceUpdate] = []

        async def watch() -> None:
            async for u in client.watch(key.address, ih):
                updates.append(u)

        watcher = asyncio.create_task(watch())
        impostor = SigningKey.generate()  # states not signed by the channel's payer
        for nonce in (1, 2, 3):
            state = sign_state(impostor, channel.ledger_id, channel.channel_id, nonce, RATE * nonce)
            receipt = await client.stream().send(state)
            assert not receipt.accepted and receipt.reason == "WRONG_SIGNER", receipt
        deadline = time.monotonic() + 10
        while not seeder.bans and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        while not any(u.reason == "BANNED" for u in updates) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        stats = seeder.stats()
    finally:
        await client.close()
        store.close()
        seeder.stop()
    assert seeder.bans == [(payer_ip, "3 refused payment updates (WRONG_SIGNER)")]
    assert stats["bans"] == [[payer_ip, "3 refused payment updates (WRONG_SIGNER)"]]
    (p,) = stats["peers"]
    assert p["banned"] and p["bans"] == 1 and p["mode"] == "choked"
    assert p["choked_for"] == "BANNED"
    assert updates[-1].mode == ppb.SERVICE_MODE_CHOKED and updates[-1].reason == "BANNED"
