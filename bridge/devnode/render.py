"""java-tron HTTP JSON shapes of blocks, transactions, receipts, accounts and assets."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from tronpy.keys import to_base58check_address
from tronpy.proto import tron_pb2

from bridge.devnode.blocks import Block, Receipt
from bridge.devnode.state import TRX
from bridge.devnode.txcodec import message_to_json, transaction_to_json, txid_of

# java-tron's default active permission: every operation but a few reserved ones.
_ACTIVE_OPERATIONS = "7fff1fc0033e0300000000000000000000000000000000000000000000000000"


def address_json(raw: bytes, visible: bool) -> str:
    return to_base58check_address(raw) if visible else raw.hex()


def tx_json(tx: tron_pb2.Transaction, receipt: Receipt | None, visible: bool) -> dict[str, Any]:
    out = transaction_to_json(tx, visible)
    if receipt is not None:
        ret: dict[str, Any] = {"contractRet": "SUCCESS"}
        if receipt.failure is not None:
            ret = {"ret": "FAILED", "contractRet": "UNKNOWN"}
        if receipt.fee:
            ret["fee"] = receipt.fee
        out = {"ret": [ret], **out}
    return out


def block_json(block: Block, visible: bool) -> dict[str, Any]:
    raw = block.header.raw_data
    raw_json: dict[str, Any] = {"number": raw.number}
    if raw.txTrieRoot:
        raw_json["txTrieRoot"] = raw.txTrieRoot.hex()
    raw_json["witness_address"] = address_json(bytes(raw.witness_address), visible)
    raw_json["parentHash"] = raw.parentHash.hex()
    raw_json["version"] = raw.version
    raw_json["timestamp"] = raw.timestamp
    out: dict[str, Any] = {
        "blockID": block.block_id.hex(),
        "block_header": {
            "raw_data": raw_json,
            "witness_signature": block.header.witness_signature.hex(),
        },
    }
    if block.txs:
        out["transactions"] = [
            tx_json(tx, block.receipts.get(txid_of(tx.raw_data)), visible) for tx in block.txs
        ]
    return out


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    out: dict[str, Any] = {"id": receipt.txid}
    if receipt.fee:
        out["fee"] = receipt.fee
    out["blockNumber"] = receipt.block_num
    out["blockTimeStamp"] = receipt.block_ts
    out["contractResult"] = [""]
    net: dict[str, Any] = {}
    if receipt.net_usage:
        net["net_usage"] = receipt.net_usage
    if receipt.net_fee:
        net["net_fee"] = receipt.net_fee
    out["receipt"] = net
    if receipt.asset_id is not None:
        out["assetIssueID"] = receipt.asset_id
    if receipt.failure is not None:
        out["result"] = "FAILED"
        out["resMessage"] = receipt.failure.encode().hex()
    return out


def account_json(raw: bytes, account: dict[str, Any], visible: bool) -> dict[str, Any]:
    balances: dict[str, int] = account["balances"]
    key = [{"address": address_json(raw, visible), "weight": 1}]
    out: dict[str, Any] = {"address": address_json(raw, visible)}
    if balances.get(TRX):
        out["balance"] = balances[TRX]
    out["create_time"] = account["create_time"]
    if account["net_used"]:
        out["free_net_usage"] = account["net_used"]
    out["owner_permission"] = {"permission_name": "owner", "threshold": 1, "keys": key}
    out["active_permission"] = [
        {
            "type": "Active",
            "id": 2,
            "permission_name": "active",
            "threshold": 1,
            "operations": _ACTIVE_OPERATIONS,
            "keys": key,
        }
    ]
    tokens = sorted((t, v) for t, v in balances.items() if t != TRX)
    if tokens:
        out["assetV2"] = [{"key": t, "value": v} for t, v in tokens]
        out["asset_optimized"] = True
    return out


def asset_json(asset: Message, visible: bool) -> dict[str, Any]:
    out = message_to_json(asset, visible)
    return {"id": out.pop("id"), **out}
