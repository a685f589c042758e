"""TronGateway: build offline, sign (pure), broadcast idempotently, read solidified state."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any, Literal

import requests
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from tronpy.keys import to_base58check_address
from tronpy.proto import tron_pb2

from bridge.tron.errors import (
    ContractRejected,
    NodeRejected,
    NodeUnavailable,
    TronError,
    error_for_code,
)
from bridge.tron.protos import CONTRACT_MESSAGES
from bridge.tron.types import (
    BroadcastResult,
    ChainHead,
    SignedTx,
    TokenId,
    TokenTransfer,
    TxStatus,
    UnsignedTx,
)
from core.crypto import SigningKey, raw_address, recover_raw_address
from core.types import Address

NILE_ENDPOINT = "https://nile.trongrid.io"
MAINNET_ENDPOINT = "https://api.trongrid.io"
Network = Literal["nile", "mainnet", "devnode"]

DEFAULT_LIFETIME_MS = 60_000
MAX_LIFETIME_MS = 24 * 3600 * 1000 - 60_000
MAX_MEMO_BYTES = 512
BLOCK_PAGE = 100  # java-tron's cap on getblockbylimitnext
_TRANSFER_ASSET = tron_pb2.Transaction.Contract.ContractType.TransferAssetContract


def _type_url(name: str) -> str:
    return f"type.googleapis.com/protocol.{name}"


def _token_id(token_id: str | int) -> TokenId:
    text = str(token_id)
    if not text.isdigit() or not 1_000_000 <= int(text) <= 9_999_999:
        raise ValueError(f"not a TRC-10 token id: {token_id!r}")
    return TokenId(text)


class TronGateway:
    def __init__(
        self,
        endpoint: str,
        api_key: str | None = None,
        network: Network = "devnode",
        *,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.network = network
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers["Content-Type"] = "application/json"
        if api_key:
            self._session.headers["TRON-PRO-API-KEY"] = api_key

    @classmethod
    def nile(cls, api_key: str | None = None) -> TronGateway:
        return cls(NILE_ENDPOINT, api_key, "nile")

    def close(self) -> None:
        self._session.close()

    def _call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self._session.post(
                f"{self.endpoint}/{path}", json=payload, timeout=self._timeout
            )
            resp.raise_for_status()
            data = resp.json()
        except requests.RequestException as exc:
            raise NodeUnavailable(f"{path}: {exc}") from exc
        except ValueError as exc:
            raise NodeUnavailable(f"{path}: answer is not JSON") from exc
        if not isinstance(data, dict):
            raise NodeUnavailable(f"{path}: answer is not a JSON object")
        if "Error" in data:
            error = str(data["Error"])
            if "ContractValidateException" in error:
                raise ContractRejected(error.split(" : ", 1)[-1], "CONTRACT_VALIDATE_ERROR")
            raise NodeRejected(error)
        return data

    # heads

    def _head(self, path: str, payload: dict[str, Any] | None = None) -> ChainHead:
        block = self._call(path, {"visible": False, **(payload or {})})
        try:
            raw = block["block_header"]["raw_data"]
            return ChainHead(int(raw.get("number", 0)), block["blockID"], int(raw["timestamp"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeUnavailable(f"{path}: malformed block") from exc

    def head(self) -> ChainHead:
        return self._head("wallet/getnowblock")

    def solid_head(self) -> ChainHead:
        return self._head("walletsolidity/getnowblock")

    def solid_block(self, num: int) -> ChainHead:
        return self._head("walletsolidity/getblockbynum", {"num": num})

    def solid_block_at(self, timestamp_ms: int) -> int:
        """The last solidified block made at or before `timestamp_ms` (0 when none was)."""
        low, high = 0, self.solid_head().number
        while low < high:  # block timestamps only grow with the number
            middle = (low + high + 1) // 2
            if self.solid_block(middle).timestamp <= timestamp_ms:
                low = middle
            else:
                high = middle - 1
        return low

    # build and sign

    def _build(
        self, kind: str, contract: Message, memo: bytes | None, lifetime_ms: int
    ) -> UnsignedTx:
        if not 0 < lifetime_ms <= MAX_LIFETIME_MS:
            raise ValueError(f"expiration must be within (0, {MAX_LIFETIME_MS}] ms")
        if memo is not None and len(memo) > MAX_MEMO_BYTES:
            raise ValueError(f"memo longer than {MAX_MEMO_BYTES} bytes")
        # Reference the solidified head: it cannot be forked away before the tx expires.
        ref = self.solid_head()
        ref_id = bytes.fromhex(ref.block_id)
        now = int(time.time() * 1000)
        raw = tron_pb2.Transaction.raw(
            ref_block_bytes=ref.number.to_bytes(8, "big")[6:8],
            ref_block_hash=ref_id[8:16],
            expiration=max(now, ref.timestamp) + lifetime_ms,
            timestamp=now,
            data=memo or b"",
        )
        raw.contract.add(
            type=getattr(tron_pb2.Transaction.Contract.ContractType, kind),
            parameter=any_pb2.Any(type_url=_type_url(kind), value=contract.SerializeToString()),
        )
        return UnsignedTx(raw.SerializeToString())

    def build_token_transfer(
        self,
        owner: str,
        to: str,
        amount: int,
        token_id: str | int,
        memo: bytes | None = None,
        expiration_ms: int = DEFAULT_LIFETIME_MS,
    ) -> UnsignedTx:
        """An unsigned TransferAssetContract; `expiration_ms` is its lifetime."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive integer of base units")
        contract = tron_pb2.TransferAssetContract(
            asset_name=_token_id(token_id).encode(),
            owner_address=raw_address(owner),
            to_address=raw_address(to),
            amount=amount,
        )
        return self._build("TransferAssetContract", contract, memo, expiration_ms)

    def build_trx_transfer(
        self, owner: str, to: str, amount: int, expiration_ms: int = DEFAULT_LIFETIME_MS
    ) -> UnsignedTx:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive integer of sun")
        contract = tron_pb2.TransferContract(
            owner_address=raw_address(owner), to_address=raw_address(to), amount=amount
        )
        return self._build("TransferContract", contract, None, expiration_ms)

    @staticmethod
    def sign(tx: UnsignedTx, key: SigningKey) -> SignedTx:
        """Pure: a 65-byte r||s||v signature over the txid, checked to recover the owner."""
        signature = key.sign_digest(bytes.fromhex(tx.txid))
        owner = _owner_of(tx.raw_data())
        if recover_raw_address(bytes.fromhex(tx.txid), signature) != owner:
            raise ValueError(f"key {key.address} is not the owner of this transaction")
        return SignedTx(tx.raw, signature)

    # broadcast and status

    def broadcast(self, signed: SignedTx) -> BroadcastResult:
        """Idempotent by txid: a node that already has the tx answers `already_known`."""
        data = self._call("wallet/broadcasthex", {"transaction": signed.to_bytes().hex()})
        if data.get("result") is True:
            return BroadcastResult(signed.txid, already_known=False)
        code = str(data.get("code", "OTHER_ERROR"))
        if code == "DUP_TRANSACTION_ERROR":
            return BroadcastResult(signed.txid, already_known=True)
        raise error_for_code(code, _message(data))

    def get_solid_tx_status(self, txid: str) -> tuple[TxStatus, int | None]:
        value = {"value": txid, "visible": False}
        info = self._call("walletsolidity/gettransactioninfobyid", value)
        if info:
            failed = info.get("result") == "FAILED"
            return (TxStatus.FAILED if failed else TxStatus.SUCCESS), int(info["blockNumber"])
        info = self._call("wallet/gettransactioninfobyid", value)
        if info:
            return TxStatus.PENDING, int(info["blockNumber"])
        try:
            pending = self._call("wallet/gettransactionfrompending", value)
        except (NodeRejected, NodeUnavailable):
            pending = {}
        return (TxStatus.PENDING if pending else TxStatus.UNKNOWN), None

    def confirm(
        self, txid: str, timeout_s: float = 90.0, interval_s: float = 1.0
    ) -> tuple[TxStatus, int | None]:
        """Poll until the tx is solidified (success or failed) or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, block = self.get_solid_tx_status(txid)
            if status in (TxStatus.SUCCESS, TxStatus.FAILED) or time.monotonic() >= deadline:
                return status, block
            time.sleep(interval_s)

    # reads

    def iter_solid_blocks(self, start: int, end: int) -> Iterator[TokenTransfer]:
        """TransferAssetContracts of solidified blocks start..end inclusive (capped at solid)."""
        end = min(end, self.solid_head().number)
        num = start
        while num <= end:
            stop = min(end + 1, num + BLOCK_PAGE)
            data = self._call(
                "walletsolidity/getblockbylimitnext",
                {"startNum": num, "endNum": stop, "visible": False},
            )
            blocks = data.get("block", [])
            if len(blocks) != stop - num:
                raise NodeUnavailable(f"blocks {num}..{stop - 1}: node returned {len(blocks)}")
            for block in blocks:
                yield from _transfers_of(block)
            num = stop

    def account(self, address: str, solid: bool = True) -> dict[str, Any]:
        path = "walletsolidity/getaccount" if solid else "wallet/getaccount"
        return self._call(path, {"address": address, "visible": True})

    def token_balance(self, address: str, token_id: str | int, solid: bool = True) -> int:
        return self.token_balances(address, solid).get(_token_id(token_id), 0)

    def token_balances(self, address: str, solid: bool = True) -> dict[str, int]:
        """Every TRC-10 token the address holds: token id -> base units."""
        return {
            str(entry.get("key")): int(entry.get("value", 0))
            for entry in self.account(address, solid).get("assetV2", [])
        }

    def trx_balance(self, address: str, solid: bool = True) -> int:
        return int(self.account(address, solid).get("balance", 0))

    # writes that need a key

    def trx_transfer(self, key: SigningKey, to: str, amount: int) -> BroadcastResult:
        return self.broadcast(self.sign(self.build_trx_transfer(key.address, to, amount), key))

    def issue_token(
        self,
        key: SigningKey,
        name: str,
        total_supply: int,
        *,
        precision: int = 6,
        url: str = "https://example.invalid",
        description: str = "",
        timeout_s: float = 90.0,
    ) -> TokenId:
        """Issue a TRC-10 token (costs the chain's asset issue fee) and return its id."""
        now = int(time.time() * 1000)
        data = self._call(
            "wallet/createassetissue",
            {
                "owner_address": key.address,
                "name": name,
                "abbr": name[:5],
                "total_supply": total_supply,
                "trx_num": 1,
                "num": 1,
                "precision": precision,
                "start_time": now + 60_000,
                "end_time": now + 120_000,
                "description": description,
                "url": url,
                "visible": True,
            },
        )
        raw = bytes.fromhex(data["raw_data_hex"])
        if hashlib.sha256(raw).hexdigest() != data.get("txID"):
            raise NodeRejected("node built a transaction whose txID does not match its bytes")
        unsigned = UnsignedTx(raw)
        if _owner_of(unsigned.raw_data()) != raw_address(key.address):
            raise NodeRejected("node built a transaction for another owner")
        result = self.broadcast(self.sign(unsigned, key))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self._call("wallet/gettransactioninfobyid", {"value": result.txid})
            if info:
                if info.get("result") == "FAILED" or "assetIssueID" not in info:
                    raise TronError(f"asset issue {result.txid} failed: {info}")
                return TokenId(str(info["assetIssueID"]))
            time.sleep(0.2)
        raise NodeUnavailable(f"asset issue {result.txid} not in a block after {timeout_s} s")


def _message(data: dict[str, Any]) -> str:
    message = str(data.get("message", ""))
    try:
        return bytes.fromhex(message).decode()
    except (ValueError, UnicodeDecodeError):
        return message


def _owner_of(raw: tron_pb2.Transaction.raw) -> bytes:
    if len(raw.contract) != 1:
        raise ValueError("expected exactly one contract")
    contract = raw.contract[0]
    kind = tron_pb2.Transaction.Contract.ContractType.Name(contract.type)
    cls = CONTRACT_MESSAGES.get(kind)
    if cls is None:
        raise ValueError(f"unsupported contract type {kind}")
    inner = cls()
    inner.ParseFromString(contract.parameter.value)
    return bytes(inner.owner_address)


def _transfers_of(block: dict[str, Any]) -> Iterator[TokenTransfer]:
    header = block["block_header"]["raw_data"]
    number, timestamp = int(header.get("number", 0)), int(header["timestamp"])
    for tx in block.get("transactions", []):
        raw = tron_pb2.Transaction.raw()
        try:
            raw_bytes = bytes.fromhex(tx["raw_data_hex"])
            raw.ParseFromString(raw_bytes)
        except (KeyError, ValueError, DecodeError) as exc:
            raise NodeUnavailable(f"block {number}: malformed transaction") from exc
        txid = hashlib.sha256(raw_bytes).hexdigest()
        if tx.get("txID", txid) != txid:
            raise NodeUnavailable(f"block {number}: txID does not match raw_data_hex")
        rets = tx.get("ret", [])
        for index, contract in enumerate(raw.contract):
            if contract.type != _TRANSFER_ASSET:
                continue
            inner = tron_pb2.TransferAssetContract()
            inner.ParseFromString(contract.parameter.value)
            ret = rets[index] if index < len(rets) else {}
            success = ret.get("contractRet") == "SUCCESS" and ret.get("ret") != "FAILED"
            yield TokenTransfer(
                block_number=number,
                block_timestamp=timestamp,
                txid=txid,
                contract_index=index,
                owner=Address(to_base58check_address(bytes(inner.owner_address))),
                to=Address(to_base58check_address(bytes(inner.to_address))),
                token_id=TokenId(bytes(inner.asset_name).decode("utf-8", "replace")),
                amount=int(inner.amount),
                success=success,
                memo=bytes(raw.data),
            )
