"""The devnode chain: the pool, admission, block production and the queries, under one lock.

Thread-safe: every public method takes the chain lock, so the HTTP server, the block timer and
a test's Python calls can share one instance. What a check or a contract does lives beside it:
`validation` (admission without state), `execution` (contracts, fees, bandwidth), `blocks`
(block making and the SQLite rows).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message
from tronpy.proto import tron_pb2

from bridge.devnode import validation
from bridge.devnode.blocks import Block, BlockStore, Receipt, make_block
from bridge.devnode.config import ChainConfig
from bridge.devnode.execution import DAY_MS, Executor, ResourceError, ValidateError, valid_address
from bridge.devnode.state import SCHEMA, TRX, AccountRow, StateView
from bridge.devnode.txcodec import CodecError, txid_of, unpack_contract
from bridge.devnode.validation import BroadcastRefused
from bridge.tron import protos

__all__ = ["BroadcastRefused", "Chain", "ChainConfig", "Faults", "ValidateError"]


@dataclass
class Faults:
    drop_next: int = 0  # answer result true, then forget the tx
    delay_ms: int = 0  # delay every HTTP answer
    dup_next: int = 0  # answer DUP_TRANSACTION_ERROR even for a new tx
    dup_include: bool = False  # ...and still put it in the pool
    fail_txids: set[str] = field(default_factory=set)  # fail at execution when in a block


GenesisEdit = Callable[[StateView, int, int], None]


class Chain:
    def __init__(self, data_dir: Path, config: ChainConfig | None = None) -> None:
        self.config = config or ChainConfig()
        self.faults = Faults()
        self.executor = Executor(self.config)
        self._lock = threading.RLock()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            data_dir / "devnode.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.blocks = BlockStore(self._db)
        top = self.blocks.max_block_num()
        if top is None:
            top = 0
            self.blocks.write(make_block([], 0, int(time.time() * 1000), bytes(32)), None)
        self._head = self.blocks.header(top)
        self._pool: dict[str, tron_pb2.Transaction] = {}
        self._pending = StateView(self._db)
        for tx in self.blocks.take_pool():
            try:
                self._admit(tx, txid_of(tx.raw_data))
            except BroadcastRefused:
                continue  # expired or no longer valid while the node was down

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
                raise BroadcastRefused("DUP_TRANSACTION_ERROR", "dup transaction")
            self._admit(tx, txid)
            return txid

    def _admit(self, tx: tron_pb2.Transaction, txid: str) -> None:
        if len(self._pool) >= self.config.max_pending:
            raise BroadcastRefused("SERVER_BUSY", "too many pending transactions")
        view = self._pending.child()
        self._check(tx, txid, view)
        view.merge_into_parent()
        self._pool[txid] = tx
        self.blocks.add_to_pool(txid, tx)

    def _check(self, tx: tron_pb2.Transaction, txid: str, view: StateView) -> None:
        """java-tron's order: size, tapos, expiration, dup, signature, bandwidth, contract."""
        validation.check_shape(tx)
        validation.check_tapos(tx.raw_data, self.head_num(), self.blocks.block_id)
        head_ts = self.head_timestamp()
        validation.check_expiration(tx.raw_data, head_ts)
        if txid in self._pool or self.blocks.in_block(txid):
            raise BroadcastRefused("DUP_TRANSACTION_ERROR", "dup transaction")
        try:
            inner = unpack_contract(tx.raw_data.contract[0])
        except CodecError as exc:
            raise BroadcastRefused(
                "CONTRACT_VALIDATE_ERROR", f"contract validate error : {exc}"
            ) from exc
        validation.check_signature(tx, txid, bytes(inner.owner_address))
        try:
            self.executor.execute(tx, inner, view, self.head_num() + 1, head_ts, head_ts)
        except ResourceError as exc:
            raise BroadcastRefused("BANDWITH_ERROR", "AccountResourceInsufficient error") from exc
        except ValidateError as exc:
            raise BroadcastRefused(
                "CONTRACT_VALIDATE_ERROR", f"contract validate error : {exc}"
            ) from exc

    def validate_contract(self, raw: tron_pb2.Transaction.raw) -> None:
        """What java-tron's create* endpoints check before returning an unsigned tx."""
        with self._lock:
            inner = unpack_contract(raw.contract[0])
            self.executor.validate_contract(
                raw, inner, self._pending.child(), self.head_timestamp()
            )

    # blocks and genesis-style admin edits

    def fund(self, address: bytes, amount: int, token: str = TRX) -> Block:
        """Credit TRX (sun) or a token out of thin air, recorded in a new block."""
        if amount <= 0:
            raise ValueError("amount must be greater than 0")
        if not valid_address(address):
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
        if not valid_address(owner):
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
            head_ts = self.head_timestamp()
            ts = max(int(time.time() * 1000), head_ts + 1)
            view = StateView(self._db)
            if genesis is not None:
                genesis(view, num, ts)
            included: list[tron_pb2.Transaction] = []
            receipts: dict[str, Receipt] = {}
            for txid, tx in self._pool.items():
                if tx.raw_data.expiration <= ts:
                    continue
                fail = txid in self.faults.fail_txids
                receipt = self.executor.run_in_block(tx, txid, view, num, ts, head_ts, fail=fail)
                if receipt is not None:
                    included.append(tx)
                    receipts[txid] = receipt
            parent = self.blocks.block_id(num - 1)
            assert parent is not None
            block = make_block(included, num, ts, parent, receipts)
            self.blocks.write(block, view)
            self._head = block.header
            self._pool.clear()
            self._pending = StateView(self._db)
            return block

    # queries

    def block_id(self, num: int) -> bytes:
        with self._lock:
            found = self.blocks.block_id(num)
            if found is None:
                raise KeyError(num)
            return found

    def get_block(self, num: int, limit: int | None = None) -> Block | None:
        """Block `num`, or None when absent or above `limit`."""
        with self._lock:
            if num < 0 or (limit is not None and num > limit):
                return None
            return self.blocks.block(num)

    def block_num_of_id(self, block_id: bytes) -> int | None:
        with self._lock:
            return self.blocks.block_num_of_id(block_id)

    def get_transaction(
        self, txid: str, limit: int | None = None
    ) -> tuple[tron_pb2.Transaction, Receipt] | None:
        with self._lock:
            found = self.blocks.transaction(txid.lower())
            if found is None or (limit is not None and found[1].block_num > limit):
                return None
            return found

    def pending_transaction(self, txid: str) -> tron_pb2.Transaction | None:
        with self._lock:
            return self._pool.get(txid.lower())

    def account(self, address: bytes, solid: bool = False) -> dict[str, object] | None:
        """Balances of an account at the head or at the solid head."""
        with self._lock:
            limit = self.solid_num() if solid else self.head_num()
            return self.blocks.account(address, limit, solid, self.head_timestamp() // DAY_MS)

    def asset(self, token_id: str, solid: bool = False) -> Message | None:
        with self._lock:
            return self.blocks.asset(token_id, self.solid_num() if solid else None)

    def assets(self) -> list[Message]:
        with self._lock:
            return self.blocks.assets()

    def account_exists(self, address: bytes) -> bool:
        with self._lock:
            return self._pending.account(address) is not None
