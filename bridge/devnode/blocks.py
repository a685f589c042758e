"""Blocks of the devnode: ids, tx roots and the witness's signature, and their SQLite rows.

`BlockStore` persists blocks, their txs and receipts, the pool (so a restart keeps it), and
answers the queries the HTTP API makes; every method runs under the chain's lock.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

from google.protobuf.message import Message
from tronpy.proto import tron_pb2

from bridge.devnode.state import StateView
from bridge.devnode.txcodec import txid_of
from bridge.tron import protos
from core.crypto import SigningKey, raw_address

WITNESS_KEY = SigningKey.from_bytes(hashlib.sha256(b"btt-devnode witness").digest())


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


def make_block(
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


class BlockStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def write(self, block: Block, view: StateView | None) -> None:
        db = self.db
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

    # the pool, kept so that a restarted node still has it

    def add_to_pool(self, txid: str, tx: tron_pb2.Transaction) -> None:
        seq = self.db.execute("SELECT COALESCE(MAX(pool_seq), 0) + 1 FROM txs").fetchone()[0]
        self.db.execute(
            "INSERT INTO txs (txid, tx, block_num, pos, pool_seq) VALUES (?, ?, NULL, NULL, ?)",
            (txid, tx.SerializeToString(), seq),
        )

    def take_pool(self) -> list[tron_pb2.Transaction]:
        """The stored pool, in arrival order, removed from the store (to be admitted again)."""
        rows = self.db.execute(
            "SELECT tx FROM txs WHERE block_num IS NULL ORDER BY pool_seq"
        ).fetchall()
        self.db.execute("DELETE FROM txs WHERE block_num IS NULL")
        pool = []
        for (blob,) in rows:
            tx = tron_pb2.Transaction()
            tx.ParseFromString(blob)
            pool.append(tx)
        return pool

    # queries

    def max_block_num(self) -> int | None:
        value = self.db.execute("SELECT MAX(num) FROM blocks").fetchone()[0]
        return None if value is None else int(value)

    def header(self, num: int) -> Message:
        row = self.db.execute("SELECT header FROM blocks WHERE num = ?", (num,)).fetchone()
        header = protos.BlockHeader()
        header.ParseFromString(row[0])
        return header

    def in_block(self, txid: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM txs WHERE txid = ? AND block_num IS NOT NULL", (txid,)
        ).fetchone()
        return row is not None

    def block_id(self, num: int) -> bytes | None:
        row = self.db.execute("SELECT id FROM blocks WHERE num = ?", (num,)).fetchone()
        return None if row is None else bytes(row[0])

    def block(self, num: int) -> Block | None:
        row = self.db.execute("SELECT id, header FROM blocks WHERE num = ?", (num,)).fetchone()
        if row is None:
            return None
        header = protos.BlockHeader()
        header.ParseFromString(row[1])
        txs = []
        for (blob,) in self.db.execute(
            "SELECT tx FROM txs WHERE block_num = ? ORDER BY pos", (num,)
        ):
            tx = tron_pb2.Transaction()
            tx.ParseFromString(blob)
            txs.append(tx)
        rows = self.db.execute(
            "SELECT txid, block_num, block_ts, fee, net_usage, net_fee, failure, asset_id"
            " FROM receipts WHERE block_num = ?",
            (num,),
        ).fetchall()
        receipts = {r[0]: Receipt(*r) for r in rows}
        return Block(num, bytes(row[0]), header, txs, receipts)

    def block_num_of_id(self, block_id: bytes) -> int | None:
        row = self.db.execute("SELECT num FROM blocks WHERE id = ?", (block_id,)).fetchone()
        return int(row[0]) if row else None

    def transaction(self, txid: str) -> tuple[tron_pb2.Transaction, Receipt] | None:
        """A tx in a block, with its receipt."""
        row = self.db.execute(
            "SELECT t.tx, r.txid, r.block_num, r.block_ts, r.fee, r.net_usage, r.net_fee,"
            " r.failure, r.asset_id FROM txs t JOIN receipts r ON r.txid = t.txid"
            " WHERE t.txid = ? AND t.block_num IS NOT NULL",
            (txid,),
        ).fetchone()
        if row is None:
            return None
        tx = tron_pb2.Transaction()
        tx.ParseFromString(row[0])
        return tx, Receipt(*row[1:])

    def account(
        self, address: bytes, limit: int, solid: bool, today: int
    ) -> dict[str, object] | None:
        """Balances of an account as of block `limit` (`solid`: minus the later blocks' deltas)."""
        row = self.db.execute(
            "SELECT create_block, create_time, net_window, net_used FROM accounts"
            " WHERE address = ?",
            (address,),
        ).fetchone()
        if row is None or row[0] > limit:
            return None
        balances = {
            str(t): int(a)
            for t, a in self.db.execute(
                "SELECT token, amount FROM balances WHERE address = ?", (address,)
            )
        }
        if solid:
            for t, d in self.db.execute(
                "SELECT token, SUM(delta) FROM deltas WHERE address = ? AND block_num > ?"
                " GROUP BY token",
                (address, limit),
            ):
                balances[str(t)] = balances.get(str(t), 0) - int(d)
        return {
            "create_time": int(row[1]),
            "net_used": int(row[3]) if row[2] == today else 0,
            "balances": balances,
        }

    def asset(self, token_id: str, limit: int | None = None) -> Message | None:
        """A token's issue contract, if issued at or before block `limit`."""
        row = self.db.execute(
            "SELECT contract, block_num FROM assets WHERE id = ?", (token_id,)
        ).fetchone()
        if row is None or (limit is not None and row[1] > limit):
            return None
        msg = protos.AssetIssueContract()
        msg.ParseFromString(row[0])
        return msg

    def assets(self) -> list[Message]:
        out = []
        for (blob,) in self.db.execute("SELECT contract FROM assets ORDER BY id"):
            msg = protos.AssetIssueContract()
            msg.ParseFromString(blob)
            out.append(msg)
        return out
