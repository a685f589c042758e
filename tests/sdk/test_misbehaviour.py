"""Cheating on either side is refused: bad updates by the payee, bad closes by the ledger."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.payee.v1 import payee_pb2 as ppb
from btt.payee.v1 import payee_pb2_grpc as ppb_grpc
from client_sdk.channel import PayeeReason, PayerChannel, PaymentRejected, sign_state
from client_sdk.ledger_client import LedgerRejected
from core.crypto import SigningKey
from core.status import ChannelStatus
from tests.ledger_harness import LedgerHarness
from tests.sdk.conftest import RATE, PayeeNode, Payer


async def _open(payee: PayeeNode, payer: Payer, **kw: object) -> PayerChannel:
    assert payee.server is not None
    return await payer.open(payee.server.target, deposit=1_000_000, **kw)


async def _send_raw(target: str, *updates: ppb.PaymentUpdate) -> list[ppb.PaymentReceipt]:
    async with grpc.aio.insecure_channel(target) as ch:
        # one update per message: each is answered on its own
        call = ppb_grpc.PayeeStub(ch).Pay(iter([ppb.PaymentUpdates(updates=[u]) for u in updates]))
        return [r async for m in call for r in m.receipts]


def _update(state: object) -> ppb.PaymentUpdate:
    return ppb.PaymentUpdate(
        channel_id=state.channel_id,  # type: ignore[attr-defined]
        nonce=state.nonce,  # type: ignore[attr-defined]
        cumulative=state.cumulative,  # type: ignore[attr-defined]
        signature=state.signature,  # type: ignore[attr-defined]
    )


async def test_payee_refuses_replayed_lower_and_forged_states(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    for _ in range(3):
        await channel.pay(100)
    cid, lid = channel.channel_id, ledger.ledger_id
    old = payer.store.latest_state(cid)
    assert old is not None and old.nonce == 3
    first = sign_state(payer.key, lid, cid, 1, 100)  # a replay of an old, lower state
    lower = sign_state(payer.key, lid, cid, 4, 50)  # higher nonce, less money
    forged = sign_state(SigningKey.generate(), lid, cid, 5, 900)  # not the payer's key
    too_much = sign_state(payer.key, lid, cid, 6, 1_000_001)
    receipts = await _send_raw(
        payee.server.target,  # type: ignore[union-attr]
        *(_update(s) for s in (first, lower, forged, too_much, old)),
    )
    reasons = [r.reason for r in receipts]
    assert reasons == [
        PayeeReason.STALE_STATE,
        PayeeReason.CUMULATIVE_DECREASED,
        PayeeReason.WRONG_SIGNER,
        PayeeReason.EXCEEDS_DEPOSIT,
        PayeeReason.DUPLICATE,
    ]
    assert not any(r.accepted for r in receipts)
    assert all((r.best_nonce, r.best_cumulative) == (3, 300) for r in receipts)
    assert payee.book.failures[payer.key.address] == 4  # the duplicate is not held against it
    assert payee.book.store.failures()[payer.key.address] == 4
    # The channel still works for honest updates.
    assert (await channel.pay(100)).best_nonce == 4


async def test_payer_sees_rejection_as_typed_error(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    await channel.pay(100)
    channel.cumulative = 0  # a buggy payer that lost track signs a lower state
    with pytest.raises(PaymentRejected) as err:
        await channel.pay(50)
    assert err.value.reason == "CUMULATIVE_DECREASED" and err.value.best_cumulative == 100


async def test_underpaying_payer_is_flagged_but_state_kept(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    payee.book.delivered(channel.channel_id, 3)  # 3 pieces out, 1 piece of credit
    receipt = await channel.pay(RATE)
    assert receipt.accepted and receipt.reason == PayeeReason.UNDERPAID
    assert receipt.owed == 3 * RATE and receipt.best_cumulative == RATE
    assert payee.book.failures[payer.key.address] == 1
    receipt = await channel.pay(RATE)  # now within the one-piece credit
    assert receipt.accepted and receipt.reason == ""


async def test_ledger_rejects_payee_close_with_forged_or_stale_state(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    for _ in range(10):
        await channel.pay(1_000)
    cid, lid = channel.channel_id, ledger.ledger_id
    assert payee.client is not None
    best = payee.book.channels[cid].best
    assert best is not None
    await payee.book.checkpoint(cid)
    assert (await payee.client.get_channel(cid)).best_nonce == 10

    forged = sign_state(payee.key, lid, cid, 11, 1_000_000)  # the payee signs for the payer
    with pytest.raises(LedgerRejected) as err:
        await payee.client.close_channel(cid, forged.envelope(), 11, 1_000_000)
    assert err.value.reason == "WRONG_SIGNER"

    stale = payer.store  # the payer's own record of nonce 5
    five = sign_state(payer.key, lid, cid, 5, 5_000)
    assert stale.latest_state(cid) is not None
    with pytest.raises(LedgerRejected) as err:
        await payee.client.close_channel(cid, five.envelope(), 5, 5_000)
    assert err.value.reason == "STALE_STATE"

    with pytest.raises(LedgerRejected) as err:  # naming a state it does not present
        await payee.client.close_channel(cid, None, 10, 20_000)
    assert err.value.reason == "STALE_STATE"

    settled = await payee.book.close(cid)
    assert settled.paid_to_payee == 10_000


async def test_refund_after_expiry(ledger: LedgerHarness, payee: PayeeNode, payer: Payer) -> None:
    await payee.book.stop()  # the payee is gone: no watchdog closes for it
    channel = await _open(payee, payer)
    await channel.pay(2_500)
    await payee.book.checkpoint(channel.channel_id)
    with pytest.raises(LedgerRejected) as err:
        await channel.claim_refund()
    assert err.value.reason == "NOT_YET_EXPIRED"
    ledger.clock.set(channel.expiry)
    settled = await channel.claim_refund()
    assert settled.settle_reason == pb.SETTLE_REASON_REFUND
    assert (settled.paid_to_payee, settled.refunded_to_payer) == (2_500, 997_500)
    assert channel.record.status is ChannelStatus.SETTLED
    assert (await payer.ledger.audit()).balanced


async def test_payee_closes_on_its_own_before_expiry(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    await channel.pay(7_000)
    ledger.clock.set(channel.expiry - payee.terms.close_margin)  # the watchdog's cue
    local = payee.book.channels[channel.channel_id].record
    # The ledger settles first; the payee records it when its close call returns.
    for _ in range(200):
        on_ledger = await payer.ledger.get_channel(channel.channel_id)
        local = payee.book.channels[channel.channel_id].record
        if on_ledger.status == pb.CHANNEL_STATUS_SETTLED and local.status is ChannelStatus.SETTLED:
            break
        await asyncio.sleep(0.05)
    assert on_ledger.settle_reason == pb.SETTLE_REASON_PAYEE_CLOSE
    assert on_ledger.paid_to_payee == 7_000
    assert local.status is ChannelStatus.SETTLED
    with pytest.raises(PaymentRejected) as err:
        await channel.pay(1)
    assert err.value.reason == "CHANNEL_NOT_OPEN"


async def test_payer_close_request_is_answered_with_best_state(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    for _ in range(4):
        await channel.pay(1_000)
    await asyncio.sleep(0.2)  # let the payee's event subscription attach
    closing = await channel.request_close()
    assert closing.status == pb.CHANNEL_STATUS_CLOSING
    for _ in range(100):
        on_ledger = await payer.ledger.get_channel(channel.channel_id)
        if on_ledger.status == pb.CHANNEL_STATUS_SETTLED:
            break
        await asyncio.sleep(0.05)
    assert on_ledger.settle_reason == pb.SETTLE_REASON_PAYEE_CLOSE
    assert on_ledger.paid_to_payee == 4_000


async def test_close_requested_while_the_payee_was_down_is_answered_on_start(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    channel = await _open(payee, payer)
    for _ in range(3):
        await channel.pay(1_000)
    await payee.stop()
    closing = await channel.request_close()
    assert closing.status == pb.CHANNEL_STATUS_CLOSING
    await payee.start()  # sees no channel_closing event: that was before it subscribed
    for _ in range(100):
        on_ledger = await payer.ledger.get_channel(channel.channel_id)
        if on_ledger.status == pb.CHANNEL_STATUS_SETTLED:
            break
        await asyncio.sleep(0.05)
    assert on_ledger.settle_reason == pb.SETTLE_REASON_PAYEE_CLOSE
    assert on_ledger.paid_to_payee == 3_000


async def test_payer_checks_refund_terms_before_funding(
    ledger: LedgerHarness, payee: PayeeNode, payer: Payer
) -> None:
    from client_sdk.channel import TermsRefused

    info = await payer.ledger.get_info()
    with pytest.raises(TermsRefused):  # expiry beyond the payee's terms: no refund, no funding
        await _open(payee, payer, expiry=info.now + 30 * 24 * 3600)
    assert await payer.ledger.balance() == 100_000_000
    assert payer.store.all() == []
