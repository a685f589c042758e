"""Domain values -> protobuf messages (the enums' wire form is in core.wire)."""

from __future__ import annotations

from btt.ledger.v1 import ledger_pb2 as pb
from core.wire import CHANNEL_STATUS_TO_PB, EVENT_KIND_TO_PB, SETTLE_REASON_TO_PB
from ledger.domain import Account, Channel, Event, Withdrawal
from ledger.payouts import Lease, PayoutTx


def account_to_pb(a: Account) -> pb.Account:
    return pb.Account(id=a.account_id, balance=a.balance, nonce=a.nonce)


def channel_to_pb(c: Channel) -> pb.Channel:
    return pb.Channel(
        channel_id=c.channel_id,
        payer=c.payer,
        payee=c.payee,
        deposit=c.deposit,
        expiry=c.expiry,
        status=CHANNEL_STATUS_TO_PB[c.status],
        best_nonce=c.best_nonce,
        best_cumulative=c.best_cumulative,
        close_deadline=c.close_deadline,
        paid_to_payee=c.paid_to_payee,
        refunded_to_payer=c.refunded_to_payer,
        settle_reason=(
            SETTLE_REASON_TO_PB[c.settle_reason]
            if c.settle_reason
            else pb.SETTLE_REASON_UNSPECIFIED
        ),
        topup_sequence=c.topup_sequence,
        opened_at=c.opened_at,
        settled_at=c.settled_at,
        best_state_signature=c.best_signature,
    )


def withdrawal_to_pb(w: Withdrawal) -> pb.Withdrawal:
    return pb.Withdrawal(
        withdrawal_id=w.withdrawal_id,
        account=w.account_id,
        tron_address=w.tron_address,
        amount=w.amount,
        status=w.status.value,
        txid=w.txid,
        requested_at=w.requested_at,
        failure_reason=w.failure_reason,
    )


def payout_to_pb(w: Withdrawal, txs: list[PayoutTx]) -> pb.Payout:
    return pb.Payout(
        withdrawal=withdrawal_to_pb(w),
        txs=[
            pb.PayoutTx(
                txid=r.txid,
                seq=r.seq,
                expiration_ms=r.expiration_ms,
                signed_tx=r.signed_tx,
                recorded_at=r.recorded_at,
            )
            for r in txs
        ],
    )


def lease_to_pb(granted: bool, lease: Lease) -> pb.LeaseResponse:
    return pb.LeaseResponse(granted=granted, holder=lease.holder, expires_at=lease.expires_at)


def event_to_pb(e: Event, channel: Channel | None = None) -> pb.Event:
    msg = pb.Event(
        event_id=e.event_id,
        at=e.at,
        kind=EVENT_KIND_TO_PB[e.kind],
        accounts=list(e.accounts),
        channel_id=e.channel_id or b"",
        amount=e.amount,
        reference=e.reference,
    )
    if channel is not None:
        msg.channel.CopyFrom(channel_to_pb(channel))
    return msg
