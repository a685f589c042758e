from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import any_pb2
from tronpy.keys import PrivateKey
from tronpy.proto import tron_pb2

from bridge.devnode.txcodec import (
    CodecError,
    raw_from_json,
    raw_to_json,
    transaction_from_json,
    txid_of,
)
from core.crypto import SigningKey, raw_address, recover_raw_address, signed_by

VECTOR = json.loads((Path(__file__).parent / "vectors" / "tron-transferasset.json").read_text())


def _vector_raw() -> tron_pb2.Transaction.raw:
    req, raw = VECTOR["request"], VECTOR["raw_data"]
    contract = tron_pb2.TransferAssetContract(
        asset_name=req["asset_name"].encode(),
        owner_address=bytes.fromhex(req["owner_address"]),
        to_address=bytes.fromhex(req["to_address"]),
        amount=req["amount"],
    )
    out = tron_pb2.Transaction.raw(
        ref_block_bytes=bytes.fromhex(raw["ref_block_bytes"]),
        ref_block_hash=bytes.fromhex(raw["ref_block_hash"]),
        expiration=raw["expiration"],
        timestamp=raw["timestamp"],
    )
    out.contract.add(
        type=tron_pb2.Transaction.Contract.ContractType.TransferAssetContract,
        parameter=any_pb2.Any(type_url=raw["type_url"], value=contract.SerializeToString()),
    )
    return out


def test_protobuf_build_reproduces_vector() -> None:
    raw = _vector_raw()
    assert raw.SerializeToString().hex() == VECTOR["raw_data_hex"]
    assert txid_of(raw) == VECTOR["txID"]


def test_node_json_codec_round_trips_vector_both_visibilities() -> None:
    raw = _vector_raw()
    for visible in (False, True):
        as_json = raw_to_json(raw, visible)
        assert raw_from_json(as_json, visible).SerializeToString().hex() == VECTOR["raw_data_hex"]
    hex_json = raw_to_json(raw, False)
    value = hex_json["contract"][0]["parameter"]["value"]
    assert value["asset_name"] == b"1005416".hex()
    assert value["owner_address"] == VECTOR["request"]["owner_address"]
    assert raw_to_json(raw, True)["contract"][0]["parameter"]["value"]["asset_name"] == "1005416"


def test_vector_signature_recovers_address() -> None:
    check = VECTOR["signature_check"]
    digest = bytes.fromhex(VECTOR["txID"])
    ours = SigningKey.from_hex(check["private_key_hex"]).sign_digest(digest)
    tronpy_sig = PrivateKey(bytes.fromhex(check["private_key_hex"])).sign_msg_hash(digest)
    assert tronpy_sig.to_bytes() == ours
    assert ours[64] == 0
    assert signed_by(digest, ours, check["address"])
    assert recover_raw_address(digest, ours) == raw_address(check["address"])


def test_broadcast_body_txid_and_hex_must_match() -> None:
    raw = _vector_raw()
    body = {"raw_data": raw_to_json(raw, False), "raw_data_hex": VECTOR["raw_data_hex"]}
    assert (
        txid_of(transaction_from_json({**body, "txID": VECTOR["txID"]}).raw_data) == VECTOR["txID"]
    )
    with pytest.raises(CodecError, match="txID"):
        transaction_from_json({**body, "txID": "00" * 32})
    tampered = dict(body, raw_data_hex=VECTOR["raw_data_hex"][:-2] + "34")
    with pytest.raises(CodecError, match="does not match"):
        transaction_from_json(tampered)
