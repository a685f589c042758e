"""The devnode chain: pool, validation with java-tron's codes, block production, queries.

Thread-safe: every public method takes the chain lock, so the HTTP server, the block timer and
a test's Python calls can share one instance.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message
from tronpy.keys import to_base58check_address
from tronpy.proto import tron_pb2

from bridge.devnode.state import SCHEMA, TRX, AccountRow, StateView
from bridge.devnode.txcodec import CodecError, txid_of, unpack_contract
from bridge.tron import protos
from core.crypto import InvalidSignature, SigningKey, raw_address, recover_raw_address

MAX_EXPIRATION_MS = 24 * 3600 * 1000
TAPOS_WINDOW = 65_536
MAX_RESULT_SIZE_IN_TX = 64  # java-tron adds this to the serialized size when charging bandwidth
MAX_TX_SIZE = 500 * 1024
DAY_MS = 24 * 3600 * 1000
WITNESS_KEY = SigningKey.from_bytes(hashlib.sha256(b"btt-devnode witness").digest())


@dataclass(frozen=True, slots=True)
class ChainConfig:
    solid_depth: int = 19
    free_bandwidth: int = 600  # bytes per account per day, java-tron's free net limit
    fee_per_byte: int = 1_000  # sun burnt per byte beyond the free allowance
    create_account_fee: int = 100_000  # bandwidth fee of a tx that creates its recipient
    create_account_system_fee: int = 1_000_000  # charged by the contract that creates it
    asset_issue_fee: int = 1_024_000_000
    max_pending: int = 10_000


class Rejection(Exception):
    """A broadcast refused with a java-tron response code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ValidateError(Exception):
    """A contract validation failure, java-tron's ContractValidateException."""


class ResourceError(Exception):
    """Not enough bandwidth nor TRX to pay for it, java-tron's AccountResourceInsufficient."""


@dataclass
class Faults:
    drop_next: int = 0  # answer result true, then forget the tx
    delay_ms: int = 0  # delay every HTTP answer
    dup_next: int = 0  # answer DUP_TRANSACTION_ERROR even for a new tx
    dup_include: bool = False  # ...and still put it in the pool
    fail_txids: set[str] = field(default_factory=set)  # fail at execution when in a block


@dataclass(frozen=True, slots=True)
class Block:
    num: int
    block_id: bytes
    header: Message  # protos.BlockHeader
    txs: list[tron_pb2.Transaction]
    receipts: dict[str, Receipt]

    @property
    def timestamp(self) -> int:
        return int(self.header.raw_data.timestamp)


@dataclass(frozen=True, slots=True)
class Receipt:
    txid: str
    block_num: int
    block_ts: int
    fee: int
    net_usage: int
    net_fee: int
    failure: str | None
    asset_id: str | None


def block_id_of(num: int, header_raw: Message) -> bytes:
    return num.to_bytes(8, "big") + hashlib.sha256(header_raw.SerializeToString()).digest()[8:]


def tx_trie_root(txs: list[tron_pb2.Transaction]) -> bytes:
    """java-tron's merkle root: sha256 leaves of each tx, pairwise sha256, odd node carried up."""
    level = [hashlib.sha256(tx.SerializeToString()).digest() for tx in txs]
    if not level:
        return bytes(32)
    while len(level) > 1:
        nxt = [
            hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _b58(raw: bytes) -> str:
    return to_base58check_address(raw)


def _valid_address(raw: bytes) -> bool:
    return len(raw) == 21 and raw[0] == 0x41


GenesisEdit = Callable[[StateView, int, int], None]


class Chain:
    def __init__(self, data_dir: Path, config: ChainConfig | None = None) -> None:
        self.config = config or ChainConfig()
        self.faults = Faults()
        self._lock = threading.RLock()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            data_dir / "devnode.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        if self._db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0] == 0:
            self._write_block(self._make_block([], 0, int(time.time() * 1000), bytes(32)), None)
        self._head = self._load_block_header(self._max_block_num())
        self._pool: dict[str, tron_pb2.Transaction] = {}
        self._pending = StateView(self._db)
        self._restore_pool()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # heads

    def head_num(self) -> int:
        return int(self._head.raw_data.number)

    def head_timestamp(self) -> int:
        return int(self._head.raw_data.timestamp)

    def solid_num(self) -> int:
        return max(0, self.head_num() - self.config.solid_depth)

    def pool_size(self) -> int:
        with self._lock:
            return len(self._pool)

    # broadcast

    def broadcast(self, tx: tron_pb2.Transaction) -> str:
        """Validate against the pending state and add to the pool; returns the txid."""
        with self._lock:
            txid = txid_of(tx.raw_data)
            if self.faults.drop_next > 0:
                self.faults.drop_next -= 1
                self._check(tx, txid, self._pending.child())
                return txid
            if self.faults.dup_next > 0:
                self.faults.dup_next -= 1
                if self.faults.dup_include:
                    self._admit(tx, txid)
                raise Rejection("DUP_TRANSACTION_ERROR", "dup transaction")
            self._admit(tx, txid)
            return txid

    def _admit(self, tx: tron_pb2.Transaction, txid: str) -> None:
        if len(self._pool) >= self.config.max_pending:
            raise Rejection("SERVER_BUSY", "too many pending transactions")
        view = self._pending.child()
        self._check(tx, txid, view)
        view.merge_into_parent()
        self._pool[txid] = tx
        seq = self._db.execute("SELECT COALESCE(MAX(pool_seq), 0) + 1 FROM txs").fetchone()[0]
        self._db.execute(
            "INSERT INTO txs (txid, tx, block_num, pos, pool_seq) VALUES (?, ?, NULL, NULL, ?)",
            (txid, tx.SerializeToString(), seq),
        )

    def _check(self, tx: tron_pb2.Transaction, txid: str, view: StateView) -> None:
        """java-tron's order: size, tapos, expiration, dup, signature, bandwidth, contract."""
        if tx.ByteSize() > MAX_TX_SIZE:
            raise Rejection("TOO_BIG_TRANSACTION_ERROR", "transaction size is too big")
        if len(tx.raw_data.contract) != 1:
            raise Rejection(
                "CONTRACT_VALIDATE_ERROR",
                "contract validate error : contract size should be exactly 1",
            )
        self._check_tapos(tx.raw_data)
        head_ts = self.head_timestamp()
        if not head_ts < tx.raw_data.expiration <= head_ts + MAX_EXPIRATION_MS:
            raise Rejection("TRANSACTION_EXPIRATION_ERROR", "transaction expired")
        if txid in self._pool or self._in_block(txid):
            raise Rejection("DUP_TRANSACTION_ERROR", "dup transaction")
        try:
            inner = unpack_contract(tx.raw_data.contract[0])
        except CodecError as exc:
            raise Rejection("CONTRACT_VALIDATE_ERROR", f"contract validate error : {exc}") from exc
        self._check_signature(tx, txid, bytes(inner.owner_address))
        try:
            self._execute(tx, inner, view, self.head_num() + 1, head_ts)
        except ResourceError as exc:
            raise Rejection("BANDWITH_ERROR", "AccountResourceInsufficient error") from exc
        except ValidateError as exc:
            raise Rejection("CONTRACT_VALIDATE_ERROR", f"contract validate error : {exc}") from exc

    def _check_tapos(self, raw: tron_pb2.Transaction.raw) -> None:
        ref = bytes(raw.ref_block_bytes)
        if len(ref) != 2 or len(raw.ref_block_hash) != 8:
            raise Rejection("TAPOS_ERROR", "Tapos check error")
        head = self.head_num()
        num = head - ((head - int.from_bytes(ref, "big")) % TAPOS_WINDOW)
        row = (
            self._db.execute("SELECT id FROM blocks WHERE num = ?", (num,)).fetchone()
            if num >= 0
            else None
        )
        if row is None or bytes(row[0])[8:16] != bytes(raw.ref_block_hash):
            raise Rejection("TAPOS_ERROR", "Tapos check error")

    def _check_signature(self, tx: tron_pb2.Transaction, txid: str, owner: bytes) -> None:
        if not tx.signature:
            raise Rejection("SIGERROR", "validate signature error miss sig or contract")
        if tx.raw_data.contract[0].Permission_id != 0:
            raise Rejection("SIGERROR", "validate signature error permission isn't exit")
        digest = bytes.fromhex(txid)
        for sig in tx.signature:
            sig = bytes(sig)
            if len(sig) == 65 and sig[64] >= 27:
                sig = sig[:64] + bytes([sig[64] - 27])
            try:
                signer = recover_raw_address(digest, sig)
            except InvalidSignature as exc:
                raise Rejection("SIGERROR", f"validate signature error {exc}") from exc
            if signer != owner:
                raise Rejection(
                    "SIGERROR",
                    f"validate signature error {_b58(signer)} is not contained of permission",
                )

    # execution (shared by the pool and block production)

    def _charge_bandwidth(
        self, tx: tron_pb2.Transaction, owner: bytes, creates: bool, view: StateView, ts: int
    ) -> tuple[int, int]:
        """(net_usage, net_fee) of the tx; a tx that creates its recipient pays a flat fee."""
        account = view.account(owner)
        if account is None:
            raise ValidateError("account does not exist")
        size = tx.ByteSize() + MAX_RESULT_SIZE_IN_TX
        if creates:
            fee = self.config.create_account_fee
            if view.balance(owner, TRX) < fee:
                raise ResourceError
            view.add(owner, TRX, -fee)
            return 0, fee
        window = ts // DAY_MS
        used = account.net_used if account.net_window == window else 0
        if used + size <= self.config.free_bandwidth:
            view.put_account(
                owner, AccountRow(account.create_block, account.create_time, window, used + size)
            )
            return size, 0
        fee = size * self.config.fee_per_byte
        if view.balance(owner, TRX) < fee:
            raise ResourceError
        view.add(owner, TRX, -fee)
        return 0, fee

    def _execute(
        self, tx: tron_pb2.Transaction, inner: Message, view: StateView, block_num: int, ts: int
    ) -> tuple[int, int, int, str | None]:
        """Apply a tx to `view`: (fee, net_usage, net_fee, asset_id). Raises on failure."""
        kind = protos.ContractType.Name(tx.raw_data.contract[0].type)
        owner = bytes(inner.owner_address)
        if not _valid_address(owner):
            raise ValidateError("Invalid ownerAddress")
        to = bytes(getattr(inner, "to_address", b""))
        creates = kind != "AssetIssueContract" and _valid_address(to) and view.account(to) is None
        if view.account(owner) is None:
            raise ValidateError(
                "No owner account!"
                if kind == "TransferAssetContract"
                else "Validate TransferContract error, no OwnerAccount."
                if kind == "TransferContract"
                else "Account not exists"
            )
        net_usage, net_fee = self._charge_bandwidth(tx, owner, creates, view, ts)
        system_fee = self.config.create_account_system_fee if creates else 0
        asset_id = None
        if kind == "TransferContract":
            self._transfer_trx(inner, owner, to, system_fee, view)
        elif kind == "TransferAssetContract":
            self._transfer_asset(inner, owner, to, system_fee, view)
        elif kind == "AssetIssueContract":
            asset_id = self._issue_asset(inner, owner, view, ts)
            system_fee = self.config.asset_issue_fee
        if creates:
            view.put_account(to, AccountRow(block_num, ts, 0, 0))
        return net_fee + system_fee, net_usage, net_fee, asset_id

    def _transfer_trx(self, c: Message, owner: bytes, to: bytes, fee: int, view: StateView) -> None:
        if not _valid_address(to):
            raise ValidateError("Invalid toAddress!")
        if to == owner:
            raise ValidateError("Cannot transfer TRX to yourself.")
        if c.amount <= 0:
            raise ValidateError("Amount must be greater than 0.")
        if view.balance(owner, TRX) < c.amount + fee:
            raise ValidateError("Validate TransferContract error, balance is not sufficient.")
        view.add(owner, TRX, -(c.amount + fee))
        view.add(to, TRX, c.amount)

    def _transfer_asset(
        self, c: Message, owner: bytes, to: bytes, fee: int, view: StateView
    ) -> None:
        if not _valid_address(to):
            raise ValidateError("Invalid toAddress")
        if c.amount <= 0:
            raise ValidateError("Amount must be greater than 0.")
        if to == owner:
            raise ValidateError("Cannot transfer asset to yourself.")
        token = bytes(c.asset_name).decode("utf-8", "replace")
        if view.asset(token) is None:
            raise ValidateError("No asset!")
        held = view.balance(owner, token)
        if held <= 0:
            raise ValidateError("assetBalance must be greater than 0.")
        if held < c.amount:
            raise ValidateError("assetBalance is not sufficient.")
        if view.balance(owner, TRX) < fee:
            raise ValidateError("Validate TransferAssetActuator error, insufficient fee.")
        if fee:
            view.add(owner, TRX, -fee)
        view.add(owner, token, -c.amount)
        view.add(to, token, c.amount)

    def _issue_asset(self, c: Message, owner: bytes, view: StateView, ts: int) -> str:
        if not 0 < len(c.name) <= 32 or c.name.lower() == b"trx":
            raise ValidateError("Invalid assetName")
        if c.precision < 0 or c.precision > 6:
            raise ValidateError("precision cannot exceed 6")
        if not 0 < len(c.url) <= 256:
            raise ValidateError("Invalid url")
        if len(c.description) > 200:
            raise ValidateError("Invalid description")
        if c.start_time == 0:
            raise ValidateError("Start time should be not empty")
        if c.end_time == 0:
            raise ValidateError("End time should be not empty")
        if c.end_time <= c.start_time:
            raise ValidateError("End time should be greater than start time")
        if c.start_time <= self.head_timestamp():
            raise ValidateError("Start time should be greater than HeadBlockTime")
        if c.total_supply <= 0:
            raise ValidateError("TotalSupply must greater than 0!")
        if c.trx_num <= 0:
            raise ValidateError("TrxNum must greater than 0!")
        if c.num <= 0:
            raise ValidateError("Num must greater than 0!")
        frozen = sum(f.frozen_amount for f in c.frozen_supply)
        if frozen > c.total_supply:
            raise ValidateError("Frozen supply cannot exceed total supply")
        if view.asset_of_owner(owner) is not None:
            raise ValidateError("An account can only issue one asset")
        if view.balance(owner, TRX) < self.config.asset_issue_fee:
            raise ValidateError("No enough balance for fee!")
        view.add(owner, TRX, -self.config.asset_issue_fee)
        token_id = view.allocate_asset_id()
        stored = protos.AssetIssueContract()
        stored.CopyFrom(c)
        stored.id = token_id
        view.assets[token_id] = (owner, stored.SerializeToString())
        view.add(owner, token_id, c.total_supply - frozen)
        return token_id

    def validate_contract(self, raw: tron_pb2.Transaction.raw) -> None:
        """What java-tron's create* endpoints check before returning an unsigned tx."""
        with self._lock:
            inner = unpack_contract(raw.contract[0])
            self._execute_contract_only(raw, inner, self._pending.child())

    def _execute_contract_only(
        self, raw: tron_pb2.Transaction.raw, inner: Message, view: StateView
    ) -> None:
        kind = protos.ContractType.Name(raw.contract[0].type)
        owner = bytes(inner.owner_address)
        if not _valid_address(owner):
            raise ValidateError("Invalid ownerAddress")
        if view.account(owner) is None:
            raise ValidateError(
                "No owner account!" if kind == "TransferAssetContract" else "Account not exists"
            )
        to = bytes(getattr(inner, "to_address", b""))
        fee = 0
        if kind != "AssetIssueContract" and _valid_address(to) and view.account(to) is None:
            fee = self.config.create_account_system_fee
        if kind == "TransferContract":
            self._transfer_trx(inner, owner, to, fee, view)
        elif kind == "TransferAssetContract":
            self._transfer_asset(inner, owner, to, fee, view)
        else:
            self._issue_asset(inner, owner, view, self.head_timestamp())

    # blocks and genesis-style admin edits

    def fund(self, address: bytes, amount: int, token: str = TRX) -> Block:
        """Credit TRX (sun) or a token out of thin air, recorded in a new block."""
        if amount <= 0:
            raise ValueError("amount must be greater than 0")
        if not _valid_address(address):
            raise ValueError("not a TRON address")

        def credit(view: StateView, num: int, ts: int) -> None:
            if token != TRX and view.asset(token) is None:
                raise ValueError(f"No asset! token {token} is not issued")
            if view.account(address) is None:
                view.put_account(address, AccountRow(num, ts, 0, 0))
            view.add(address, token, amount)

        return self.produce_block(credit)

    def issue(self, owner: bytes, name: str, total_supply: int, precision: int = 6) -> str:
        """Create a TRC-10 token held wholly by `owner`, without a fee or a transaction."""
        if total_supply <= 0:
            raise ValueError("TotalSupply must greater than 0!")
        if not _valid_address(owner):
            raise ValueError("not a TRON address")
        issued: list[str] = []

        def create(view: StateView, num: int, ts: int) -> None:
            if view.asset_of_owner(owner) is not None:
                raise ValueError("An account can only issue one asset")
            token_id = view.allocate_asset_id()
            contract = protos.AssetIssueContract(
                owner_address=owner,
                name=name.encode(),
                abbr=name.encode()[:5],
                total_supply=total_supply,
                precision=precision,
                trx_num=1,
                num=1,
                start_time=ts,
                end_time=ts + 1,
                url=b"https://devnode.invalid",
                id=token_id,
            )
            view.assets[token_id] = (owner, contract.SerializeToString())
            if view.account(owner) is None:
                view.put_account(owner, AccountRow(num, ts, 0, 0))
            view.add(owner, token_id, total_supply)
            issued.append(token_id)

        self.produce_block(create)
        return issued[0]

    def produce_block(self, genesis: GenesisEdit | None = None) -> Block:
        """Seal the pool into the next block, after an optional genesis-style state edit."""
        with self._lock:
            num = self.head_num() + 1
            ts = max(int(time.time() * 1000), self.head_timestamp() + 1)
            view = StateView(self._db)
            if genesis is not None:
                genesis(view, num, ts)
            included: list[tron_pb2.Transaction] = []
            receipts: dict[str, Receipt] = {}
            for txid, tx in self._pool.items():
                if tx.raw_data.expiration <= ts:
                    continue
                receipt = self._run_in_block(tx, txid, view, num, ts)
                if receipt is not None:
                    included.append(tx)
                    receipts[txid] = receipt
            block = self._make_block(included, num, ts, self.block_id(num - 1), receipts)
            self._write_block(block, view)
            self._head = block.header
            self._pool.clear()
            self._pending = StateView(self._db)
            return block

    def _run_in_block(
        self, tx: tron_pb2.Transaction, txid: str, view: StateView, num: int, ts: int
    ) -> Receipt | None:
        inner = unpack_contract(tx.raw_data.contract[0])
        owner = bytes(inner.owner_address)
        attempt = view.child()
        try:
            if txid in self.faults.fail_txids:
                raise ValidateError("devnode: injected execution failure")
            fee, net_usage, net_fee, asset_id = self._execute(tx, inner, attempt, num, ts)
        except ResourceError:
            return None  # java-tron leaves it out of the block; it expires unseen
        except ValidateError as exc:
            # The tx still pays for its bytes; its contract has no effect.
            attempt = view.child()
            try:
                net_usage, net_fee = self._charge_bandwidth(tx, owner, False, attempt, ts)
            except (ResourceError, ValidateError):
                return None
            attempt.merge_into_parent()
            return Receipt(txid, num, ts, net_fee, net_usage, net_fee, str(exc), None)
        attempt.merge_into_parent()
        return Receipt(txid, num, ts, fee, net_usage, net_fee, None, asset_id)

    def _make_block(
        self,
        txs: list[tron_pb2.Transaction],
        num: int,
        ts: int,
        parent: bytes,
        receipts: dict[str, Receipt] | None = None,
    ) -> Block:
        header = protos.BlockHeader()
        raw = header.raw_data
        raw.timestamp = ts
        raw.txTrieRoot = tx_trie_root(txs)
        raw.parentHash = parent
        raw.number = num
        raw.witness_address = raw_address(WITNESS_KEY.address)
        raw.version = 30
        header.witness_signature = WITNESS_KEY.sign_digest(
            hashlib.sha256(raw.SerializeToString()).digest()
        )
        return Block(num, block_id_of(num, raw), header, txs, receipts or {})

    def _write_block(self, block: Block, view: StateView | None) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO blocks (num, id, header, timestamp) VALUES (?, ?, ?, ?)",
                (block.num, block.block_id, block.header.SerializeToString(), block.timestamp),
            )
            if view is not None:
                view.write(block.num)
            db.execute("DELETE FROM txs WHERE block_num IS NULL")
            for pos, tx in enumerate(block.txs):
                txid = txid_of(tx.raw_data)
                db.execute(
                    "INSERT INTO txs (txid, tx, block_num, pos) VALUES (?, ?, ?, ?)",
                    (txid, tx.SerializeToString(), block.num, pos),
                )
            for r in block.receipts.values():
                db.execute(
                    "INSERT INTO receipts (txid, block_num, block_ts, fee, net_usage, net_fee,"
                    " failure, asset_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.txid,
                        r.block_num,
                        r.block_ts,
                        r.fee,
                        r.net_usage,
                        r.net_fee,
                        r.failure,
                        r.asset_id,
                    ),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _restore_pool(self) -> None:
        rows = self._db.execute(
            "SELECT txid, tx FROM txs WHERE block_num IS NULL ORDER BY pool_seq"
        ).fetchall()
        self._db.execute("DELETE FROM txs WHERE block_num IS NULL")
        for _txid, blob in rows:
            tx = tron_pb2.Transaction()
            tx.ParseFromString(blob)
            try:
                self._admit(tx, txid_of(tx.raw_data))
            except Rejection:
                continue  # expired or no longer valid while the node was down

    # queries

    def _max_block_num(self) -> int:
        return int(self._db.execute("SELECT MAX(num) FROM blocks").fetchone()[0])

    def _load_block_header(self, num: int) -> Message:
        row = self._db.execute("SELECT header FROM blocks WHERE num = ?", (num,)).fetchone()
        header = protos.BlockHeader()
        header.ParseFromString(row[0])
        return header

    def _in_block(self, txid: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM txs WHERE txid = ? AND block_num IS NOT NULL", (txid,)
        ).fetchone()
        return row is not None

    def block_id(self, num: int) -> bytes:
        with self._lock:
            row = self._db.execute("SELECT id FROM blocks WHERE num = ?", (num,)).fetchone()
            if row is None:
                raise KeyError(num)
            return bytes(row[0])

    def get_block(self, num: int, limit: int | None = None) -> Block | None:
        """Block `num`, or None when absent or above `limit`."""
        with self._lock:
            if num < 0 or (limit is not None and num > limit):
                return None
            row = self._db.execute("SELECT id, header FROM blocks WHERE num = ?", (num,)).fetchone()
            if row is None:
                return None
            header = protos.BlockHeader()
            header.ParseFromString(row[1])
            txs = []
            for (blob,) in self._db.execute(
                "SELECT tx FROM txs WHERE block_num = ? ORDER BY pos", (num,)
            ):
                tx = tron_pb2.Transaction()
                tx.ParseFromString(blob)
                txs.append(tx)
            receipts = {r.txid: r for r in self._receipts_of_block(num)}
            return Block(num, bytes(row[0]), header, txs, receipts)

    def block_num_of_id(self, block_id: bytes) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT num FROM blocks WHERE id = ?", (block_id,)).fetchone()
            return int(row[0]) if row else None

    def _receipts_of_block(self, num: int) -> list[Receipt]:
        rows = self._db.execute(
            "SELECT txid, block_num, block_ts, fee, net_usage, net_fee, failure, asset_id"
            " FROM receipts WHERE block_num = ?",
            (num,),
        ).fetchall()
        return [Receipt(*r) for r in rows]

    def get_transaction(
        self, txid: str, limit: int | None = None
    ) -> tuple[tron_pb2.Transaction, Receipt] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT t.tx, r.txid, r.block_num, r.block_ts, r.fee, r.net_usage, r.net_fee,"
                " r.failure, r.asset_id FROM txs t JOIN receipts r ON r.txid = t.txid"
                " WHERE t.txid = ? AND t.block_num IS NOT NULL",
                (txid.lower(),),
            ).fetchone()
            if row is None:
                return None
            receipt = Receipt(*row[1:])
            if limit is not None and receipt.block_num > limit:
                return None
            tx = tron_pb2.Transaction()
            tx.ParseFromString(row[0])
            return tx, receipt

    def pending_transaction(self, txid: str) -> tron_pb2.Transaction | None:
        with self._lock:
            return self._pool.get(txid.lower())

    def account(self, address: bytes, solid: bool = False) -> dict[str, object] | None:
        """Balances of an account at the head or at the solid head."""
        with self._lock:
            row = self._db.execute(
                "SELECT create_block, create_time, net_window, net_used FROM accounts"
                " WHERE address = ?",
                (address,),
            ).fetchone()
            if row is None:
                return None
            limit = self.solid_num() if solid else self.head_num()
            if row[0] > limit:
                return None
            balances = {
                str(t): int(a)
                for t, a in self._db.execute(
                    "SELECT token, amount FROM balances WHERE address = ?", (address,)
                )
            }
            if solid:
                for t, d in self._db.execute(
                    "SELECT token, SUM(delta) FROM deltas WHERE address = ? AND block_num > ?"
                    " GROUP BY token",
                    (address, limit),
                ):
                    balances[str(t)] = balances.get(str(t), 0) - int(d)
            today = self.head_timestamp() // DAY_MS
            return {
                "create_time": int(row[1]),
                "net_used": int(row[3]) if row[2] == today else 0,
                "balances": balances,
            }

    def asset(self, token_id: str, solid: bool = False) -> Message | None:
        with self._lock:
            row = self._db.execute(
                "SELECT contract, block_num FROM assets WHERE id = ?", (token_id,)
            ).fetchone()
            if row is None or (solid and row[1] > self.solid_num()):
                return None
            msg = protos.AssetIssueContract()
            msg.ParseFromString(row[0])
            return msg

    def assets(self) -> list[Message]:
        with self._lock:
            out = []
            for (blob,) in self._db.execute("SELECT contract FROM assets ORDER BY id"):
                msg = protos.AssetIssueContract()
                msg.ParseFromString(blob)
                out.append(msg)
            return out

    def account_exists(self, address: bytes) -> bool:
        with self._lock:
            return self._pending.account(address) is not None
