"""One vocabulary per concept: each core enum maps to its wire form one-to-one, in core.wire."""

from __future__ import annotations

import enum

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from btt.ledger.v1 import ledger_pb2 as pb
from core import wire
from core.status import ChannelStatus, EventKind, SettleReason, WithdrawalStatus

CASES = [
    (ChannelStatus, pb.ChannelStatus, wire.CHANNEL_STATUS_TO_PB, wire.channel_status_from_pb),
    (SettleReason, pb.SettleReason, wire.SETTLE_REASON_TO_PB, wire.settle_reason_from_pb),
    (EventKind, pb.EventKind, wire.EVENT_KIND_TO_PB, wire.event_kind_from_pb),
]


@pytest.mark.parametrize(("ours", "proto", "to_pb", "from_pb"), CASES, ids=lambda c: "")
def test_each_member_has_its_namesake_on_the_wire_and_back(
    ours: type[enum.Enum], proto: EnumTypeWrapper, to_pb: dict, from_pb: object
) -> None:
    prefix = proto.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
    wire_values = {v.number for v in proto.DESCRIPTOR.values if v.number}
    assert set(to_pb) == set(ours)
    assert set(to_pb.values()) == wire_values
    for member in ours:
        assert proto.Name(to_pb[member]) == prefix + member.name
        assert from_pb(to_pb[member]) is member  # type: ignore[operator]
    assert from_pb(0) is None  # type: ignore[operator]
    assert from_pb(max(wire_values) + 1) is None  # type: ignore[operator]


def test_event_kinds_keep_their_stored_text() -> None:
    """The database holds the text: renaming a value would orphan every stored event."""
    assert [k.value for k in EventKind] == [
        "channel_opened",
        "channel_updated",
        "channel_closing",
        "channel_settled",
        "channel_topped_up",
        "transfer",
        "credit",
        "withdrawal_requested",
        "withdrawal_paid",
        "withdrawal_failed",
        "faucet_grant",
    ]


def test_withdrawal_status_travels_as_its_text() -> None:
    assert [s.value for s in WithdrawalStatus] == ["pending", "paid", "failed"]
    for status in WithdrawalStatus:
        assert wire.withdrawal_status_from_pb(status.value) is status
    assert wire.withdrawal_status_from_pb("PAID") is None
    assert wire.withdrawal_status_from_pb("") is None


def test_channel_status_labels() -> None:
    assert [s.label() for s in ChannelStatus] == ["open", "closing", "settled"]
