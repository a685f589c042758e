"""Account state of the devnode: SQLite tables for the head, in-memory overlays on top.

A block is executed on an overlay and written in one SQLite transaction; the pool is validated
on its own overlay (the "pending state" java-tron keeps), rebuilt after every block.
Every balance change is also kept per block as a delta, so solidified balances are the head
balance minus the deltas of the blocks above the solid head.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

TRX = ""  # token key of the TRX balance (in sun)
FIRST_TOKEN_ID = 1_000_001

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (num INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
    header BLOB NOT NULL, timestamp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txs (txid TEXT PRIMARY KEY, tx BLOB NOT NULL, block_num INTEGER,
    pos INTEGER, pool_seq INTEGER);
CREATE INDEX IF NOT EXISTS txs_block ON txs (block_num, pos);
CREATE TABLE IF NOT EXISTS receipts (txid TEXT PRIMARY KEY, block_num INTEGER NOT NULL,
    block_ts INTEGER NOT NULL, fee INTEGER NOT NULL, net_usage INTEGER NOT NULL,
    net_fee INTEGER NOT NULL, failure TEXT, asset_id TEXT);
CREATE TABLE IF NOT EXISTS balances (address BLOB NOT NULL, token TEXT NOT NULL,
    amount INTEGER NOT NULL, PRIMARY KEY (address, token));
CREATE TABLE IF NOT EXISTS deltas (block_num INTEGER NOT NULL, address BLOB NOT NULL,
    token TEXT NOT NULL, delta INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deltas_block ON deltas (block_num);
CREATE TABLE IF NOT EXISTS accounts (address BLOB PRIMARY KEY, create_block INTEGER NOT NULL,
    create_time INTEGER NOT NULL, net_window INTEGER NOT NULL, net_used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS assets (id TEXT PRIMARY KEY, owner BLOB NOT NULL UNIQUE,
    contract BLOB NOT NULL, block_num INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class AccountRow:
    create_block: int
    create_time: int
    net_window: int
    net_used: int


class StateView:
    """Reads fall through to the parent (or the database); writes stay in this overlay."""

    def __init__(self, db: sqlite3.Connection, parent: StateView | None = None) -> None:
        self._db = db
        self._parent = parent
        self.balances: dict[tuple[bytes, str], int] = {}
        self.accounts: dict[bytes, AccountRow] = {}
        self.assets: dict[str, tuple[bytes, bytes]] = {}
        self.deltas: dict[tuple[bytes, str], int] = {}
        self.next_asset: int | None = None

    def child(self) -> StateView:
        return StateView(self._db, self)

    def balance(self, address: bytes, token: str) -> int:
        key = (address, token)
        if key in self.balances:
            return self.balances[key]
        if self._parent is not None:
            return self._parent.balance(address, token)
        row = self._db.execute(
            "SELECT amount FROM balances WHERE address = ? AND token = ?", key
        ).fetchone()
        return int(row[0]) if row else 0

    def add(self, address: bytes, token: str, delta: int) -> None:
        key = (address, token)
        value = self.balance(address, token) + delta
        if value < 0:
            raise ValueError("balance would go negative")
        self.balances[key] = value
        self.deltas[key] = self.deltas.get(key, 0) + delta

    def account(self, address: bytes) -> AccountRow | None:
        if address in self.accounts:
            return self.accounts[address]
        if self._parent is not None:
            return self._parent.account(address)
        row = self._db.execute(
            "SELECT create_block, create_time, net_window, net_used FROM accounts"
            " WHERE address = ?",
            (address,),
        ).fetchone()
        return AccountRow(*row) if row else None

    def put_account(self, address: bytes, row: AccountRow) -> None:
        self.accounts[address] = row

    def asset(self, token_id: str) -> tuple[bytes, bytes] | None:
        """(owner, serialized AssetIssueContract with its id) of a token."""
        if token_id in self.assets:
            return self.assets[token_id]
        if self._parent is not None:
            return self._parent.asset(token_id)
        row = self._db.execute(
            "SELECT owner, contract FROM assets WHERE id = ?", (token_id,)
        ).fetchone()
        return (bytes(row[0]), bytes(row[1])) if row else None

    def asset_of_owner(self, owner: bytes) -> str | None:
        for token_id, (o, _) in self.assets.items():
            if o == owner:
                return token_id
        if self._parent is not None:
            return self._parent.asset_of_owner(owner)
        row = self._db.execute("SELECT id FROM assets WHERE owner = ?", (owner,)).fetchone()
        return str(row[0]) if row else None

    def allocate_asset_id(self) -> str:
        if self.next_asset is None:
            if self._parent is not None:
                self.next_asset = self._parent._peek_next_asset()
            else:
                self.next_asset = self._db_next_asset()
        token_id = self.next_asset
        self.next_asset += 1
        return str(token_id)

    def _peek_next_asset(self) -> int:
        if self.next_asset is not None:
            return self.next_asset
        if self._parent is not None:
            return self._parent._peek_next_asset()
        return self._db_next_asset()

    def _db_next_asset(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'next_asset'").fetchone()
        return int(row[0]) if row else FIRST_TOKEN_ID

    def merge_into_parent(self) -> None:
        parent = self._parent
        if parent is None:
            raise RuntimeError("a root view has no parent")
        parent.balances.update(self.balances)
        parent.accounts.update(self.accounts)
        parent.assets.update(self.assets)
        for key, delta in self.deltas.items():
            parent.deltas[key] = parent.deltas.get(key, 0) + delta
        if self.next_asset is not None:
            parent.next_asset = self.next_asset

    def write(self, block_num: int) -> None:
        """Write this overlay (a direct child of the database) as the effects of a block."""
        db = self._db
        db.executemany(
            "INSERT INTO balances (address, token, amount) VALUES (?, ?, ?)"
            " ON CONFLICT (address, token) DO UPDATE SET amount = excluded.amount",
            [(a, t, v) for (a, t), v in self.balances.items()],
        )
        db.executemany(
            "INSERT INTO deltas (block_num, address, token, delta) VALUES (?, ?, ?, ?)",
            [(block_num, a, t, d) for (a, t), d in self.deltas.items() if d],
        )
        db.executemany(
            "INSERT INTO accounts (address, create_block, create_time, net_window, net_used)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET"
            " net_window = excluded.net_window, net_used = excluded.net_used",
            [
                (a, r.create_block, r.create_time, r.net_window, r.net_used)
                for a, r in self.accounts.items()
            ],
        )
        db.executemany(
            "INSERT INTO assets (id, owner, contract, block_num) VALUES (?, ?, ?, ?)",
            [(i, o, c, block_num) for i, (o, c) in self.assets.items()],
        )
        if self.next_asset is not None:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('next_asset', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(self.next_asset),),
            )
