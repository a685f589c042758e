"""Core enums <-> their protobuf form: the one place the two vocabularies meet.

The server writes with the `*_TO_PB` tables; clients read with the `*_from_pb` functions, which
answer None for a value this build does not know (UNSPECIFIED, or added by a newer ledger).
"""

from __future__ import annotations

from btt.ledger.v1 import ledger_pb2 as pb
from core.status import ChannelStatus, EventKind, SettleReason, WithdrawalStatus

CHANNEL_STATUS_TO_PB: dict[ChannelStatus, pb.ChannelStatus] = {
    ChannelStatus.OPEN: pb.CHANNEL_STATUS_OPEN,
    ChannelStatus.CLOSING: pb.CHANNEL_STATUS_CLOSING,
    ChannelStatus.SETTLED: pb.CHANNEL_STATUS_SETTLED,
}
SETTLE_REASON_TO_PB: dict[SettleReason, pb.SettleReason] = {
    SettleReason.PAYEE_CLOSE: pb.SETTLE_REASON_PAYEE_CLOSE,
    SettleReason.COOPERATIVE: pb.SETTLE_REASON_COOPERATIVE,
    SettleReason.REFUND: pb.SETTLE_REASON_REFUND,
    SettleReason.CHALLENGE_EXPIRED: pb.SETTLE_REASON_CHALLENGE_EXPIRED,
    SettleReason.SWEPT: pb.SETTLE_REASON_SWEPT,
}
EVENT_KIND_TO_PB: dict[EventKind, pb.EventKind] = {
    EventKind.CHANNEL_OPENED: pb.EVENT_KIND_CHANNEL_OPENED,
    EventKind.CHANNEL_UPDATED: pb.EVENT_KIND_CHANNEL_UPDATED,
    EventKind.CHANNEL_CLOSING: pb.EVENT_KIND_CHANNEL_CLOSING,
    EventKind.CHANNEL_SETTLED: pb.EVENT_KIND_CHANNEL_SETTLED,
    EventKind.CHANNEL_TOPPED_UP: pb.EVENT_KIND_CHANNEL_TOPPED_UP,
    EventKind.TRANSFER: pb.EVENT_KIND_TRANSFER,
    EventKind.CREDIT: pb.EVENT_KIND_CREDIT,
    EventKind.WITHDRAWAL_REQUESTED: pb.EVENT_KIND_WITHDRAWAL_REQUESTED,
    EventKind.WITHDRAWAL_PAID: pb.EVENT_KIND_WITHDRAWAL_PAID,
    EventKind.WITHDRAWAL_FAILED: pb.EVENT_KIND_WITHDRAWAL_FAILED,
    EventKind.FAUCET_GRANT: pb.EVENT_KIND_FAUCET_GRANT,
}

_CHANNEL_STATUS_FROM_PB: dict[int, ChannelStatus] = {v: k for k, v in CHANNEL_STATUS_TO_PB.items()}
_SETTLE_REASON_FROM_PB: dict[int, SettleReason] = {v: k for k, v in SETTLE_REASON_TO_PB.items()}
_EVENT_KIND_FROM_PB: dict[int, EventKind] = {v: k for k, v in EVENT_KIND_TO_PB.items()}


def channel_status_from_pb(value: int) -> ChannelStatus | None:
    return _CHANNEL_STATUS_FROM_PB.get(value)


def settle_reason_from_pb(value: int) -> SettleReason | None:
    return _SETTLE_REASON_FROM_PB.get(value)


def event_kind_from_pb(value: int) -> EventKind | None:
    return _EVENT_KIND_FROM_PB.get(value)


def withdrawal_status_from_pb(text: str) -> WithdrawalStatus | None:
    """Withdrawal status travels as its text (`pb.Withdrawal.status`)."""
    try:
        return WithdrawalStatus(text)
    except ValueError:
        return None
