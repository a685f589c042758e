"""Varints wider than their field and NUL characters are found at any depth; honest input passes."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2
from hypothesis import given
from hypothesis import strategies as st

from btt.ledger.v1 import ledger_pb2 as pb
from core import wirecheck

OVERLONG = b"\xff" * 9 + b"\x03"  # 65 significant bits
text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@given(
    from_account=text,
    to_account=text,
    amount=st.integers(-(2**63), 2**63 - 1),
    nonce=st.integers(0, 2**64 - 1),
    memo=text,
)
def test_every_honest_transfer_payload_passes(
    from_account: str, to_account: str, amount: int, nonce: int, memo: str
) -> None:
    m = pb.TransferPayload(
        from_account=from_account, to_account=to_account, amount=amount, nonce=nonce, memo=memo
    )
    wirecheck.check(m.SerializeToString(), m)


@given(version=st.integers(0, 2**32 - 1), status=st.integers(-(2**31), 2**31 - 1))
def test_32_bit_fields_pass_up_to_their_width(version: int, status: int) -> None:
    refund = pb.RefundPayload(channel_id=b"\x01", version=version)
    wirecheck.check_varints(refund.SerializeToString(), refund.DESCRIPTOR)
    listing = pb.ListChannelsRequest(status=status)  # type: ignore[arg-type]  # open enum
    wirecheck.check_varints(listing.SerializeToString(), listing.DESCRIPTOR)


@pytest.mark.parametrize("number", [3, 4])  # amount (int64), nonce (uint64)
def test_a_65_bit_varint_is_named(number: int) -> None:
    data = pb.TransferPayload(memo="x").SerializeToString() + varint(number << 3) + OVERLONG
    pb.TransferPayload.FromString(data)  # protobuf itself takes it, truncated
    with pytest.raises(wirecheck.WireError, match=r"^(amount|nonce): varint wider than its type$"):
        wirecheck.check_varints(data, pb.TransferPayload.DESCRIPTOR)


@given(st.integers(2**32, 2**64 - 1))
def test_a_uint32_past_32_bits_is_refused(value: int) -> None:
    data = b"\x18" + varint(value)  # RefundPayload.version
    with pytest.raises(wirecheck.WireError, match=r"^version: "):
        wirecheck.check_varints(data, pb.RefundPayload.DESCRIPTOR)


def test_an_enum_past_int32_is_refused_but_negative_passes() -> None:
    negative = b"\x10" + varint(2**64 - 1)  # -1, sign-extended
    wirecheck.check_varints(negative, pb.ListChannelsRequest.DESCRIPTOR)
    with pytest.raises(wirecheck.WireError, match=r"^status: "):
        wirecheck.check_varints(b"\x10" + varint(2**31), pb.ListChannelsRequest.DESCRIPTOR)


def test_nested_unknown_and_packed_fields_are_walked() -> None:
    event = pb.Event(event_id=1, channel=pb.Channel(best_nonce=5))
    nested = event.SerializeToString() + b"\x3a" + bytes([11]) + b"\x38" + OVERLONG  # channel
    with pytest.raises(wirecheck.WireError, match=r"^channel\.best_nonce: "):
        wirecheck.check_varints(nested, pb.Event.DESCRIPTOR)
    with pytest.raises(wirecheck.WireError, match=r"^field 99: "):
        wirecheck.check_varints(varint(99 << 3) + OVERLONG, pb.Event.DESCRIPTOR)
    location = descriptor_pb2.SourceCodeInfo.Location.DESCRIPTOR  # repeated int32 path, packed
    packed = b"\x0a" + bytes([1 + len(OVERLONG)]) + b"\x01" + OVERLONG
    with pytest.raises(wirecheck.WireError, match=r"^path: "):
        wirecheck.check_varints(packed, location)
    wirecheck.check_varints(b"\x0a\x02\x01\x02", location)


def test_nul_characters_are_found_at_any_depth() -> None:
    with pytest.raises(wirecheck.WireError, match=r"^memo: contains a NUL character$"):
        wirecheck.check_strings(pb.TransferPayload(memo="a\x00"))
    with pytest.raises(wirecheck.WireError, match=r"^channel\.payee: "):
        wirecheck.check_strings(pb.Event(channel=pb.Channel(payee="\x00")))
    with pytest.raises(wirecheck.WireError, match=r"^accounts: "):
        wirecheck.check_strings(pb.Event(accounts=["T1", "T\x00"]))
    with pytest.raises(wirecheck.WireError, match=r"^channels\.payer: "):
        wirecheck.check_strings(
            pb.ListChannelsResponse(channels=[pb.Channel(), pb.Channel(payer="\x00")])
        )
    wirecheck.check_strings(pb.Event(accounts=["é", "T"], channel=pb.Channel(payee="ok")))


def _reference_varints(data: bytes, descriptor: object, path: str = "") -> None:
    """The plain walk (every varint read the long way): what the fast one must agree with."""
    pos = 0
    while pos < len(data):
        key, pos = wirecheck._read_varint(data, pos)
        field = descriptor.fields_by_number.get(key >> 3)  # type: ignore[attr-defined]
        name = path + (field.name if field is not None else f"field {key >> 3}")
        wire_type = key & 7
        if wire_type == 0:
            value, pos = wirecheck._read_varint(data, pos)
            if not wirecheck._fits(value, field):
                raise wirecheck.WireError(f"{name}: varint wider than its type")
        elif wire_type == 2:
            length, pos = wirecheck._read_varint(data, pos)
            chunk, pos = data[pos : pos + length], pos + length
            if field is not None and field.type == field.TYPE_MESSAGE:
                _reference_varints(chunk, field.message_type, name + ".")
            elif field is not None and field.type in wirecheck._VARINT_TYPES:
                inner = 0
                while inner < len(chunk):
                    value, inner = wirecheck._read_varint(chunk, inner)
                    if not wirecheck._fits(value, field):
                        raise wirecheck.WireError(f"{name}: varint wider than its type")
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise wirecheck.WireError(f"{name}: wire type {wire_type} is not used by this protocol")
    if pos != len(data):
        raise wirecheck.WireError("truncated field")


def _outcome(check: object, data: bytes, descriptor: object) -> str:
    try:
        check(data, descriptor)  # type: ignore[operator]
    except wirecheck.WireError as exc:
        return str(exc)
    return "ok"


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=12),
            st.integers(0, 2**70).map(lambda n: b"\x08" + varint(n)),  # field 1 as a varint
            st.integers(0, 2**70).map(lambda n: b"\x18" + varint(n)),
            st.integers(0, 2**70).map(lambda n: b"\x38" + varint(n)),
            st.binary(max_size=200).map(lambda b: b"\x0a" + varint(len(b)) + b),
        ),
        max_size=6,
    ).map(b"".join)
)
def test_the_fast_walk_agrees_with_the_plain_one(data: bytes) -> None:
    for descriptor in (pb.SubmitBatchRequest.DESCRIPTOR, pb.TransferPayload.DESCRIPTOR):
        expected = _outcome(_reference_varints, data, descriptor)
        assert _outcome(wirecheck.check_varints, data, descriptor) == expected


def test_types_without_strings_skip_the_string_walk_only_then() -> None:
    assert not wirecheck._has_strings(pb.SubmitBatchRequest.DESCRIPTOR)
    assert wirecheck._has_strings(pb.TransferPayload.DESCRIPTOR)
    assert wirecheck._has_strings(descriptor_pb2.FileDescriptorProto.DESCRIPTOR)  # recursive
