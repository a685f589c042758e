"""java-tron JSON <-> protobuf for transactions, following java-tron's `visible` rules.

With visible=false every bytes field is hex and addresses are hex `41...`; with visible=true
addresses are base58check and name-like fields (token id, name, url, ...) are plain strings.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from tronpy.keys import to_base58check_address, to_raw_address
from tronpy.proto import tron_pb2

from bridge.tron.protos import CONTRACT_MESSAGES, ContractType

_TEXT_FIELDS = frozenset({"asset_name", "name", "abbr", "description", "url", "id"})


class CodecError(ValueError):
    """The JSON or bytes do not describe a transaction this node understands."""


def txid_of(raw: tron_pb2.Transaction.raw) -> str:
    return hashlib.sha256(raw.SerializeToString()).hexdigest()


def _bytes_from_json(name: str, value: Any, visible: bool) -> bytes:
    if not isinstance(value, str):
        raise CodecError(f"field {name} must be a string")
    try:
        if "address" in name:
            return bytes(to_raw_address(value))
        if visible and name in _TEXT_FIELDS:
            return value.encode()
        return bytes.fromhex(value)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"field {name} is not valid: {value!r}") from exc


def _bytes_to_json(name: str, value: bytes, visible: bool) -> str:
    if "address" in name and len(value) == 21:
        return to_base58check_address(value) if visible else value.hex()
    if visible and name in _TEXT_FIELDS:
        return value.decode("utf-8", "replace")
    return value.hex()


def message_from_json(cls: type[Message], obj: Any, visible: bool) -> Message:
    if not isinstance(obj, dict):
        raise CodecError(f"{cls.DESCRIPTOR.name} must be an object")
    msg = cls()
    fields = cls.DESCRIPTOR.fields_by_name
    for name, value in obj.items():
        field = fields.get(name)
        if field is None:
            raise CodecError(f"unknown field {name} in {cls.DESCRIPTOR.name}")
        if field.is_repeated:
            if not isinstance(value, list):
                raise CodecError(f"field {name} must be a list")
            target = getattr(msg, name)
            for item in value:
                target.append(
                    message_from_json(
                        message_factory.GetMessageClass(field.message_type), item, visible
                    )
                )
        elif field.type == FieldDescriptor.TYPE_BYTES:
            setattr(msg, name, _bytes_from_json(name, value, visible))
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(msg, name, str(value))
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise CodecError(f"field {name} must be an integer")
            try:
                setattr(msg, name, value)
            except ValueError as exc:
                raise CodecError(f"field {name} is out of range") from exc
    return msg


def message_to_json(msg: Message, visible: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.is_repeated:
            out[field.name] = [message_to_json(item, visible) for item in value]
        elif field.type == FieldDescriptor.TYPE_BYTES:
            out[field.name] = _bytes_to_json(field.name, value, visible)
        else:
            out[field.name] = value
    return out


def contract_type_name(contract: tron_pb2.Transaction.Contract) -> str:
    return ContractType.Name(contract.type)


def unpack_contract(contract: tron_pb2.Transaction.Contract) -> Message:
    name = contract_type_name(contract)
    cls = CONTRACT_MESSAGES.get(name)
    if cls is None:
        raise CodecError(f"contract type {name} is not supported by this node")
    inner = cls()
    try:
        inner.ParseFromString(contract.parameter.value)
    except DecodeError as exc:
        raise CodecError(f"malformed {name} parameter") from exc
    return inner


def raw_from_json(raw_json: Any, visible: bool) -> tron_pb2.Transaction.raw:
    if not isinstance(raw_json, dict):
        raise CodecError("raw_data must be an object")
    raw = tron_pb2.Transaction.raw()
    contracts = raw_json.get("contract")
    if not isinstance(contracts, list) or len(contracts) != 1:
        raise CodecError("raw_data.contract must hold exactly one contract")
    for c in contracts:
        name = c.get("type") if isinstance(c, dict) else None
        cls = CONTRACT_MESSAGES.get(str(name))
        if cls is None:
            raise CodecError(f"contract type {name} is not supported by this node")
        param = c.get("parameter") or {}
        inner = message_from_json(cls, param.get("value"), visible)
        contract = raw.contract.add(
            type=getattr(ContractType, str(name)),
            parameter=any_pb2.Any(
                type_url=param.get("type_url", f"type.googleapis.com/protocol.{name}"),
                value=inner.SerializeToString(),
            ),
        )
        if "Permission_id" in c:
            contract.Permission_id = int(c["Permission_id"])
    try:
        for key in ("ref_block_bytes", "ref_block_hash", "data"):
            if key in raw_json:
                setattr(raw, key, bytes.fromhex(raw_json[key]))
        for key in ("ref_block_num", "expiration", "timestamp", "fee_limit"):
            if key in raw_json:
                setattr(raw, key, int(raw_json[key]))
    except (ValueError, TypeError) as exc:
        raise CodecError(f"raw_data field is not valid: {exc}") from exc
    return raw


def raw_to_json(raw: tron_pb2.Transaction.raw, visible: bool) -> dict[str, Any]:
    contracts = []
    for c in raw.contract:
        entry: dict[str, Any] = {
            "parameter": {
                "value": message_to_json(unpack_contract(c), visible),
                "type_url": c.parameter.type_url,
            },
            "type": contract_type_name(c),
        }
        if c.Permission_id:
            entry["Permission_id"] = c.Permission_id
        contracts.append(entry)
    out: dict[str, Any] = {"contract": contracts}
    if raw.data:
        out["data"] = raw.data.hex()
    out["ref_block_bytes"] = raw.ref_block_bytes.hex()
    out["ref_block_hash"] = raw.ref_block_hash.hex()
    out["expiration"] = raw.expiration
    if raw.fee_limit:
        out["fee_limit"] = raw.fee_limit
    out["timestamp"] = raw.timestamp
    return out


def transaction_from_json(body: dict[str, Any]) -> tron_pb2.Transaction:
    """Parse a broadcast body; raw_data_hex, when given, must match raw_data and txID."""
    visible = bool(body.get("visible", False))
    tx = tron_pb2.Transaction()
    raw_hex = body.get("raw_data_hex")
    if raw_hex is not None:
        try:
            tx.raw_data.ParseFromString(bytes.fromhex(raw_hex))
        except (ValueError, TypeError, DecodeError) as exc:
            raise CodecError("raw_data_hex is not a transaction raw_data") from exc
        if "raw_data" in body:
            from_json = raw_from_json(body["raw_data"], visible)
            if from_json.SerializeToString() != tx.raw_data.SerializeToString():
                raise CodecError("raw_data does not match raw_data_hex")
    elif "raw_data" in body:
        tx.raw_data.CopyFrom(raw_from_json(body["raw_data"], visible))
    else:
        raise CodecError("raw_data is required")
    claimed = body.get("txID")
    if claimed and claimed != txid_of(tx.raw_data):
        raise CodecError(f"txID {claimed} does not match sha256(raw_data) {txid_of(tx.raw_data)}")
    sigs = body.get("signature") or []
    if not isinstance(sigs, list):
        raise CodecError("signature must be a list")
    try:
        tx.signature.extend(bytes.fromhex(s) for s in sigs)
    except (ValueError, TypeError) as exc:
        raise CodecError("signature must be hex") from exc
    return tx


def transaction_to_json(tx: tron_pb2.Transaction, visible: bool) -> dict[str, Any]:
    return {
        "visible": visible,
        "txID": txid_of(tx.raw_data),
        "raw_data": raw_to_json(tx.raw_data, visible),
        "raw_data_hex": tx.raw_data.SerializeToString().hex(),
        "signature": [s.hex() for s in tx.signature],
    }
