"""Open, pay over the stream, close: against the real ledger and a real payee service."""

from __future__ import annotations

import asyncio

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.channel import PayeeStore, PayerChannel
from client_sdk.p2p import PayeeClient
from tests.ledger_harness import LedgerHarness
from tests.sdk.conftest import RATE, PayeeNode, Payer


async def test_thousand_payments_then_payee_close(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    assert payee.server is not None
    channel = await payer.open(payee.server.target, deposit=5_000_000)
    assert channel.rate == RATE
    for i in range(1, 1001):
        payee.book.delivered(channel.channel_id, 1)
        receipt = await channel.pay(RATE)
        assert receipt.accepted and receipt.reason == ""
        assert receipt.best_nonce == i
    assert channel.cumulative == 1000 * RATE
    held = payee.book.channels[channel.channel_id].record
    assert (held.best_nonce, held.best_cumulative) == (1000, 1000 * RATE)
    assert payer.store.state_count(channel.channel_id) == 1000

    settled = await payee.book.close(channel.channel_id)
    assert settled.status == pb.CHANNEL_STATUS_SETTLED
    assert settled.settle_reason == pb.SETTLE_REASON_PAYEE_CLOSE
    assert (settled.paid_to_payee, settled.refunded_to_payer) == (1_000_000, 4_000_000)
    assert await payer.ledger.balance(payee.address) == 1_000_000
    assert await payer.ledger.balance() == 100_000_000 - 1_000_000
    audit = await payer.ledger.audit()
    assert audit.balanced and audit.journal_imbalance == 0
    assert audit.account_balances == 100_000_000 and audit.channel_escrow == 0


async def test_pipelined_payments_share_commits(payee: PayeeNode, payer: Payer) -> None:
    assert payee.server is not None
    channel = await payer.open(payee.server.target, deposit=5_000_000)
    receipts = await asyncio.gather(*(channel.pay(1) for _ in range(300)))
    assert [r.nonce for r in receipts] == list(range(1, 301))
    assert all(r.accepted for r in receipts)
    assert payee.book.channels[channel.channel_id].record.best_cumulative == 300


async def test_payee_restart_resumes_from_durable_best_state(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    assert payee.server is not None
    channel = await payer.open(payee.server.target, deposit=2_000_000)
    for _ in range(25):
        await channel.pay(RATE)
    await payee.stop()

    # On disk, as committed before the receipts went out.
    store = PayeeStore(payee.db)
    (record,) = store.all()
    store.close()
    assert (record.best_nonce, record.best_cumulative) == (25, 25 * RATE)

    await payee.start()
    reply = await channel.announce()
    assert (reply.best_nonce, reply.best_cumulative) == (25, 25 * RATE)
    for _ in range(5):
        receipt = await channel.pay(RATE)  # the broken stream is reopened
    assert receipt.best_nonce == 30
    settled = await payee.book.close(channel.channel_id)
    assert settled.paid_to_payee == 30 * RATE
    assert settled.refunded_to_payer == 2_000_000 - 30 * RATE


async def test_payer_restart_never_reuses_a_nonce(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    assert payee.server is not None
    channel = await payer.open(payee.server.target, deposit=2_000_000)
    for _ in range(3):
        await channel.pay(10)
    resumed = await PayerChannel.resume(
        channel.channel_id,
        key=payer.key,
        ledger=payer.ledger,
        payee=PayeeClient(payee.server.target),
        store=payer.store,
    )
    assert (resumed.nonce, resumed.cumulative) == (3, 30)
    receipt = await resumed.pay(10)
    assert receipt.accepted and receipt.best_nonce == 4 and receipt.best_cumulative == 40


async def test_cooperative_close_and_top_up(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    assert payee.server is not None
    channel = await payer.open(payee.server.target, deposit=1_000_000)
    await channel.pay(400_000)
    later = channel.expiry + 3600
    topped = await channel.top_up(500_000, later)
    assert (topped.deposit, topped.expiry, topped.topup_sequence) == (1_500_000, later, 1)
    assert payee.book.channels[channel.channel_id].record.deposit == 1_500_000
    await channel.pay(1_000_000)  # beyond the first deposit, within the new one
    settled = await channel.cooperative_close()
    assert settled.settle_reason == pb.SETTLE_REASON_COOPERATIVE
    assert (settled.paid_to_payee, settled.refunded_to_payer) == (1_400_000, 100_000)
    assert (await payer.ledger.audit()).balanced
