"""Digest and channel-id layouts, recomputed by hand, and docs/protocol.md kept honest."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from Crypto.Hash import keccak
from google.protobuf.descriptor import FieldDescriptor

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SigningKey, raw_address, recover_raw_address, signed_by
from core.envelopes import cosign, message_type, open_signed, serialize, sign
from core.rejections import Rejection
from core.signing import DOMAIN_TAG, derive_channel_id, signing_digest
from core.status import ChannelStatus
from ledger.protocol import TRANSITIONS, Op
from ledger.rpc.errors import STATUS_OF

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
PAYER = SigningKey.from_bytes(b"\x11" * 32)
PAYEE = SigningKey.from_bytes(b"\x22" * 32)

PAYLOAD_TYPES = sorted(
    (m for name, m in pb.DESCRIPTOR.message_types_by_name.items() if name.endswith("Payload")),
    key=lambda m: m.name,
)


# ---------------------------------------------------------------- digest


def test_domain_tag() -> None:
    assert DOMAIN_TAG == b"BTT-CHANNELS/v1"
    assert DOMAIN_TAG.hex() == "4254542d4348414e4e454c532f7631"


@pytest.mark.parametrize(
    ("ledger_id", "mtype", "payload"),
    [
        ("example-ledger", "ChannelStatePayload", b"\x0a\x01\x02"),
        ("", "", b""),
        ("l", "TransferPayload", bytes(range(256))),
        ("ledger-ü", "RefundPayload", b"\x00\x00"),
    ],
)
def test_digest_layout_by_hand(ledger_id: str, mtype: str, payload: bytes) -> None:
    preimage = (
        b"BTT-CHANNELS/v1"
        + b"\x00"
        + ledger_id.encode("utf-8")
        + b"\x00"
        + mtype.encode("utf-8")
        + b"\x00"
        + payload
    )
    assert signing_digest(ledger_id, mtype, payload) == hashlib.sha256(preimage).digest()
    assert len(signing_digest(ledger_id, mtype, payload)) == 32


def test_digest_separates_ledgers_types_and_payloads() -> None:
    base = signing_digest("a", "ChannelStatePayload", b"\x01")
    variants = [
        signing_digest("b", "ChannelStatePayload", b"\x01"),
        signing_digest("a", "CloseChannelPayload", b"\x01"),
        signing_digest("a", "ChannelStatePayload", b"\x02"),
        signing_digest("a", "ChannelStatePayload", b"\x01\x00"),
        signing_digest("a", "ChannelStatePayload", b""),
        # Field boundaries are fixed by the separators: moving bytes between fields changes it.
        signing_digest("aC", "hannelStatePayload", b"\x01"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_messages_sign_uses_the_digest_over_deterministic_bytes() -> None:
    payload = pb.TransferPayload(
        from_account=PAYER.address, to_account=PAYEE.address, amount=5, nonce=9, memo="hi"
    )
    signed = sign(PAYER, "L", payload)
    assert signed.payload == payload.SerializeToString(deterministic=True) == serialize(payload)
    assert message_type(payload) == message_type(pb.TransferPayload) == "TransferPayload"
    digest = signing_digest("L", "TransferPayload", signed.payload)
    assert signed_by(digest, signed.signature, PAYER.address)
    opened = open_signed("L", signed, pb.TransferPayload, "t")
    assert opened.proof.digest == digest
    assert opened.proof.signature == signed.signature
    assert opened.payload == payload
    assert open_signed("M", signed, pb.TransferPayload, "t").proof.digest != digest


def test_open_signed_verifies_over_the_bytes_received() -> None:
    # Same message, non-canonical encoding (field 3 before field 2): the digest follows the bytes.
    canonical = pb.ChannelStatePayload(channel_id=b"\x01", nonce=1, cumulative=2)
    reordered = b"\x0a\x01\x01" + b"\x18\x02" + b"\x10\x01"
    assert reordered != serialize(canonical)
    envelope = pb.Signed(payload=reordered, signature=b"\x00" * 65)
    opened = open_signed("L", envelope, pb.ChannelStatePayload, "s")
    assert opened.payload == canonical
    assert opened.proof.digest == signing_digest("L", "ChannelStatePayload", reordered)


def test_cosign_signs_the_same_bytes_under_the_type() -> None:
    first = sign(PAYER, "L", pb.CooperativeClosePayload(channel_id=b"\x05", cumulative=3))
    second = cosign(PAYEE, "L", first, pb.CooperativeClosePayload)
    assert second.payload == first.payload
    digest = signing_digest("L", "CooperativeClosePayload", first.payload)
    assert signed_by(digest, first.signature, PAYER.address)
    assert signed_by(digest, second.signature, PAYEE.address)


# ---------------------------------------------------------------- channel id


@pytest.mark.parametrize("salt", [0, 1, 42, 2**32, 2**64 - 1])
def test_channel_id_layout_by_hand(salt: int) -> None:
    ledger_id, payer, payee = "example-ledger", PAYER.address, PAYEE.address
    preimage = (
        b"BTT-CHANNELS/v1\x00"
        + ledger_id.encode()
        + b"\x00channel-id\x00"
        + payer.encode()
        + b"\x00"
        + payee.encode()
        + b"\x00"
        + salt.to_bytes(8, "big")
    )
    assert derive_channel_id(ledger_id, payer, payee, salt) == hashlib.sha256(preimage).digest()


def test_channel_id_depends_on_every_term() -> None:
    base = derive_channel_id("L", PAYER.address, PAYEE.address, 1)
    assert len(base) == 32
    others = {
        derive_channel_id("M", PAYER.address, PAYEE.address, 1),
        derive_channel_id("L", PAYEE.address, PAYER.address, 1),
        derive_channel_id("L", PAYER.address, PAYER.address, 1),
        derive_channel_id("L", PAYER.address, PAYEE.address, 2),
        derive_channel_id("L", PAYER.address, PAYEE.address, 0),
    }
    assert base not in others and len(others) == 5
    assert derive_channel_id("L", PAYER.address, PAYEE.address, 1) == base


@pytest.mark.parametrize("salt", [-1, 2**64, 2**70])
def test_salt_bounds(salt: int) -> None:
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        derive_channel_id("L", PAYER.address, PAYEE.address, salt)


# ---------------------------------------------------------------- docs/protocol.md


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _worked_example() -> dict[str, str]:
    text = _doc()
    section = text[text.index("## 11. Worked example") :]
    block = section[section.index("```text") + len("```text") :]
    block = block[: block.index("```")]
    values = dict(re.findall(r"^(\w+)\s*=\s*(\S+)\s*$", block, flags=re.MULTILINE))
    assert len(values) >= 15
    return values


def test_doc_worked_example_is_exact() -> None:
    ex = _worked_example()
    ledger_id = ex["ledger_id"]
    payer = SigningKey.from_hex(ex["payer_private_key"])
    payee = SigningKey.from_hex(ex["payee_private_key"])
    assert payer.secret_bytes() == b"\x11" * 32 and payee.secret_bytes() == b"\x22" * 32
    assert payer.public_key().hex() == ex["payer_public_key"]
    assert payer.address == ex["payer"] and payee.address == ex["payee"]
    raw = b"\x41" + keccak.new(digest_bits=256, data=payer.public_key()[1:]).digest()[-20:]
    assert raw_address(ex["payer"]) == raw

    channel_id = derive_channel_id(ledger_id, payer.address, payee.address, int(ex["salt"]))
    assert channel_id.hex() == ex["channel_id"]

    state = pb.ChannelStatePayload(
        channel_id=channel_id, nonce=int(ex["nonce"]), cumulative=int(ex["cumulative"])
    )
    assert message_type(state) == ex["message_type"]
    payload = serialize(state)
    assert payload.hex() == ex["payload"]
    by_hand = b"\x0a\x20" + channel_id + b"\x10\x01" + b"\x18\x90\xa1\x0f"
    assert by_hand == payload

    preimage = DOMAIN_TAG + b"\x00" + ledger_id.encode() + b"\x00ChannelStatePayload\x00" + payload
    assert preimage.hex() == ex["digest_preimage"]
    digest = signing_digest(ledger_id, ex["message_type"], payload)
    assert digest == hashlib.sha256(preimage).digest()
    assert digest.hex() == ex["digest"]

    signed = sign(payer, ledger_id, state)
    assert signed.signature.hex() == ex["signature"]
    assert signed.SerializeToString(deterministic=True).hex() == ex["signed_envelope"]
    signature = bytes.fromhex(ex["signature"])
    assert recover_raw_address(digest, signature) == raw_address(payer.address)
    assert signature[64] == 0


def test_doc_payload_tables_match_the_schema() -> None:
    text = _doc()
    type_names = {
        FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_BYTES: "bytes",
        FieldDescriptor.TYPE_INT64: "int64",
        FieldDescriptor.TYPE_UINT64: "uint64",
        FieldDescriptor.TYPE_UINT32: "uint32",
    }
    documented = set(re.findall(r"^### (\w+Payload)\b", text, flags=re.MULTILINE))
    assert documented == {m.name for m in PAYLOAD_TYPES}
    for message in PAYLOAD_TYPES:
        section = text[text.index(f"### {message.name} ") :]
        section = section[: section.index("\n#", 1)]
        rows = re.findall(r"^\| (\d+) \| (\w+) \| (\w+) \|$", section, flags=re.MULTILINE)
        expected = [
            (str(f.number), f.name, type_names[f.type])
            for f in sorted(message.fields, key=lambda f: f.number)
        ]
        assert rows == expected, message.name


def test_doc_rejection_table_matches_the_status_codes() -> None:
    text = _doc()
    rows = re.findall(r"^\| ([A-Z_]+) \| ([A-Z_]+) \| [^|]+ \|$", text, flags=re.MULTILINE)
    table = {reason: status for reason, status in rows if reason in Rejection.__members__}
    assert set(table) == {r.value for r in Rejection}
    assert table == {r.value: STATUS_OF[r].name for r in Rejection}


def test_doc_lifecycle_table_matches_the_transitions() -> None:
    text = _doc()
    section = text[text.index("## 9. Channel lifecycle") : text.index("## 10.")]
    rows = re.findall(
        r"^\| (\(none\)|[A-Z]+) \| ([A-Z]+) \| (\w+)[^|]* \|", section, flags=re.MULTILINE
    )
    documented = {
        (None if f == "(none)" else ChannelStatus[f], ChannelStatus[t], Op(op)) for f, t, op in rows
    }
    assert len(rows) == len(documented)
    table = {(f, t, op) for (f, t), ops in TRANSITIONS.items() for op in ops}
    assert documented == table
