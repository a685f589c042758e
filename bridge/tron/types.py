"""Values the gateway hands out: transactions to sign and persist, heads, transfers, statuses."""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import NewType

from google.protobuf.message import DecodeError
from tronpy.proto import tron_pb2

from core.types import Address

TokenId = NewType("TokenId", str)  # TRC-10 token id, decimal string such as "1002000"
Sun = NewType("Sun", int)  # TRX base units


class TxStatus(enum.StrEnum):
    UNKNOWN = "unknown"  # in no block the node knows (maybe dropped; rebroadcast until expiry)
    PENDING = "pending"  # in the pool or in a block that is not solidified yet
    SUCCESS = "success"  # in a solidified block, executed
    FAILED = "failed"  # in a solidified block, execution failed: no effect but the fee


@dataclass(frozen=True, slots=True)
class ChainHead:
    number: int
    block_id: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class UnsignedTx:
    raw: bytes  # serialized Transaction.raw: exactly what the signature covers

    @property
    def txid(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def raw_data(self) -> tron_pb2.Transaction.raw:
        msg = tron_pb2.Transaction.raw()
        msg.ParseFromString(self.raw)
        return msg

    @property
    def expiration(self) -> int:
        return int(self.raw_data().expiration)


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    signature: bytes

    @property
    def txid(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def expiration(self) -> int:
        return int(UnsignedTx(self.raw).expiration)

    def to_bytes(self) -> bytes:
        """The serialized `Transaction` protobuf, as broadcast."""
        tx = tron_pb2.Transaction(signature=[self.signature])
        tx.raw_data.ParseFromString(self.raw)
        return tx.SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedTx:
        tx = tron_pb2.Transaction()
        try:
            tx.ParseFromString(data)
        except DecodeError as exc:
            raise ValueError("not a serialized TRON transaction") from exc
        if len(tx.signature) != 1:
            raise ValueError("expected exactly one signature")
        return cls(tx.raw_data.SerializeToString(), bytes(tx.signature[0]))

    def to_json(self) -> str:
        return json.dumps(
            {"txID": self.txid, "raw_data_hex": self.raw.hex(), "signature": [self.signature.hex()]}
        )

    @classmethod
    def from_json(cls, text: str) -> SignedTx:
        try:
            data = json.loads(text)
            signed = cls(bytes.fromhex(data["raw_data_hex"]), bytes.fromhex(data["signature"][0]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError("not a signed transaction JSON") from exc
        if data.get("txID") not in (None, signed.txid):
            raise ValueError("txID does not match raw_data_hex")
        return signed


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    txid: str
    already_known: bool  # the node had it (DUP_TRANSACTION_ERROR): not a failure


@dataclass(frozen=True, slots=True)
class TokenTransfer:
    """One TransferAssetContract of a solidified block."""

    block_number: int
    block_timestamp: int
    txid: str
    contract_index: int
    owner: Address
    to: Address
    token_id: TokenId
    amount: int
    success: bool
    memo: bytes
