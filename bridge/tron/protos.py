"""Protobuf messages beyond those tronpy bundles (used by the gateway and the devnode).

tronpy ships `Transaction` and the transfer contracts; java-tron's `BlockHeader` and
`AssetIssueContract` are declared here with java-tron's field numbers (core/Tron.proto,
core/contract/asset_issue_contract.proto), in a private descriptor pool so they never clash
with tronpy's `protocol` package.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from tronpy.proto import tron_pb2

_F = descriptor_pb2.FieldDescriptorProto
_I64, _I32, _BYTES, _STR, _MSG = (
    _F.TYPE_INT64,
    _F.TYPE_INT32,
    _F.TYPE_BYTES,
    _F.TYPE_STRING,
    _F.TYPE_MESSAGE,
)
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _message(
    name: str, fields: list[tuple[str, int, int, int, str]]
) -> descriptor_pb2.DescriptorProto:
    msg = descriptor_pb2.DescriptorProto(name=name)
    for fname, number, ftype, label, type_name in fields:
        field = msg.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = type_name
    return msg


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="btt_devnode/chain.proto", package="devnode", syntax="proto3"
    )
    header = _message("BlockHeader", [("raw_data", 1, _MSG, _OPT, ".devnode.BlockHeader.raw")])
    header.field.add(name="witness_signature", number=2, type=_BYTES, label=_OPT)
    header.nested_type.append(
        _message(
            "raw",
            [
                ("timestamp", 1, _I64, _OPT, ""),
                ("txTrieRoot", 2, _BYTES, _OPT, ""),
                ("parentHash", 3, _BYTES, _OPT, ""),
                ("number", 7, _I64, _OPT, ""),
                ("witness_id", 8, _I64, _OPT, ""),
                ("witness_address", 9, _BYTES, _OPT, ""),
                ("version", 10, _I32, _OPT, ""),
                ("accountStateRoot", 11, _BYTES, _OPT, ""),
            ],
        )
    )
    f.message_type.append(header)

    asset = _message(
        "AssetIssueContract",
        [
            ("owner_address", 1, _BYTES, _OPT, ""),
            ("name", 2, _BYTES, _OPT, ""),
            ("abbr", 3, _BYTES, _OPT, ""),
            ("total_supply", 4, _I64, _OPT, ""),
            ("frozen_supply", 5, _MSG, _REP, ".devnode.AssetIssueContract.FrozenSupply"),
            ("trx_num", 6, _I32, _OPT, ""),
            ("precision", 7, _I32, _OPT, ""),
            ("num", 8, _I32, _OPT, ""),
            ("start_time", 9, _I64, _OPT, ""),
            ("end_time", 10, _I64, _OPT, ""),
            ("order", 11, _I64, _OPT, ""),
            ("vote_score", 16, _I32, _OPT, ""),
            ("description", 20, _BYTES, _OPT, ""),
            ("url", 21, _BYTES, _OPT, ""),
            ("free_asset_net_limit", 22, _I64, _OPT, ""),
            ("public_free_asset_net_limit", 23, _I64, _OPT, ""),
            ("public_free_asset_net_usage", 24, _I64, _OPT, ""),
            ("public_latest_free_net_time", 25, _I64, _OPT, ""),
            ("id", 41, _STR, _OPT, ""),
        ],
    )
    asset.nested_type.append(
        _message(
            "FrozenSupply",
            [("frozen_amount", 1, _I64, _OPT, ""), ("frozen_days", 2, _I64, _OPT, "")],
        )
    )
    f.message_type.append(asset)
    return f


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file())

BlockHeader: type[Message] = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("devnode.BlockHeader")
)
BlockHeaderRaw: type[Message] = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("devnode.BlockHeader.raw")
)
AssetIssueContract: type[Message] = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("devnode.AssetIssueContract")
)

ContractType = tron_pb2.Transaction.Contract.ContractType

# Contract types the devnode executes, with the message class of their parameter.
CONTRACT_MESSAGES: dict[str, type[Message]] = {
    "TransferContract": tron_pb2.TransferContract,
    "TransferAssetContract": tron_pb2.TransferAssetContract,
    "AssetIssueContract": AssetIssueContract,
}


def type_url(contract_type: str) -> str:
    return f"type.googleapis.com/protocol.{contract_type}"
