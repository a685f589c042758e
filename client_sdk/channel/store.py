"""Durable local records of both channel roles (stdlib sqlite3, WAL, fsync'd commits).

`synchronous=FULL` in WAL mode fsyncs the log on every commit. The payee commits a state before
it acknowledges it; the payer signs a state, sends it and commits it on a writer thread at the
same time (`PayerStore.record_state_soon`: states queued while a commit runs share the next one),
so no payment waits for a disk.

Each store's schema carries a version (SQLite's `user_version`); opening an older file upgrades
it in one transaction, and a file written by a newer version is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.channel.states import SignedState
from core.files import create_private
from core.status import ChannelStatus

_PROPOSED = "PROPOSED"  # the payer's record before its channel is on the ledger


class StoreVersionError(RuntimeError):
    """The file was written by a newer version of this program."""


def connect(path: str | Path) -> sqlite3.Connection:
    if str(path) != ":memory:":
        create_private(path)  # money data: owner only
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


class _Store:
    SCHEMA: tuple[str, ...] = ()  # the current version's tables, for a new file
    VERSION = 0
    # version -> the statements that bring a file of that version to the next one
    UPGRADES: Mapping[int, tuple[str, ...]] = {}

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = connect(self.path)
        self._lock = threading.RLock()
        try:
            self._upgrade()
        except BaseException:
            self.db.close()
            raise

    def _upgrade(self) -> None:
        with self.transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > self.VERSION:
                raise StoreVersionError(
                    f"{self.path} has schema version {version}; this program reads up to "
                    f"{self.VERSION}: upgrade the program"
                )
            fresh = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
            if fresh:
                for statement in self.SCHEMA:
                    db.execute(statement)
            else:
                # Files from before versioning say 0 and hold version 1's tables.
                for step in range(max(version, 1), self.VERSION):
                    for statement in self.UPGRADES[step]:
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {self.VERSION}")

    @property
    def version(self) -> int:
        with self._lock:
            return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.db.close()


# ---------------------------------------------------------------- payer


@dataclass(frozen=True, slots=True)
class PayerRecord:
    channel_id: bytes
    payer: str
    payee: str
    payee_endpoint: str
    info_hash: str
    deposit: int
    expiry: int
    salt: int
    rate: int
    refund: bytes  # serialized pb.Signed RefundPayload for the current expiry
    topup_sequence: int = 0
    status: ChannelStatus | None = None  # None: proposed, not on the ledger yet

    @property
    def status_label(self) -> str:
        return self.status.label() if self.status else "proposed"

    def refund_envelope(self) -> pb.Signed:
        signed = pb.Signed()
        signed.ParseFromString(self.refund)
        return signed


class PayerStore(_Store):
    VERSION = 2
    SCHEMA = (
        """CREATE TABLE channels (
        channel_id BLOB PRIMARY KEY, payer TEXT NOT NULL, payee TEXT NOT NULL,
        payee_endpoint TEXT NOT NULL, info_hash TEXT NOT NULL, deposit INTEGER NOT NULL,
        expiry INTEGER NOT NULL, salt INTEGER NOT NULL, rate INTEGER NOT NULL,
        refund BLOB NOT NULL, topup_sequence INTEGER NOT NULL, status TEXT NOT NULL)""",
        # every state ever signed; the primary key makes reusing a nonce impossible
        """CREATE TABLE states (
        channel_id BLOB NOT NULL REFERENCES channels(channel_id), nonce INTEGER NOT NULL,
        cumulative INTEGER NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (channel_id, nonce))""",
    )
    UPGRADES = {1: ("UPDATE channels SET status = upper(status)",)}  # 2: core's status names
    _COLUMNS = (
        "channel_id, payer, payee, payee_endpoint, info_hash, deposit, expiry, salt, rate, "
        "refund, topup_sequence, status"
    )

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._queue_lock = threading.Lock()
        self._queued: list[tuple[SignedState, Future[None]]] = []
        self._writer: threading.Thread | None = None

    def close(self) -> None:
        self.flush()
        super().close()

    def save(self, record: PayerRecord) -> None:
        # salt is a u64; sqlite integers are signed 64-bit, so store its two's complement.
        salt = record.salt - 2**64 if record.salt >= 2**63 else record.salt
        with self.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO channels ({self._COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.channel_id,
                    record.payer,
                    record.payee,
                    record.payee_endpoint,
                    record.info_hash,
                    record.deposit,
                    record.expiry,
                    salt,
                    record.rate,
                    record.refund,
                    record.topup_sequence,
                    record.status.value if record.status else _PROPOSED,
                ),
            )

    def get(self, channel_id: bytes) -> PayerRecord | None:
        with self._lock:
            row = self.db.execute(
                f"SELECT {self._COLUMNS} FROM channels WHERE channel_id = ?", (channel_id,)
            ).fetchone()
        return _payer_record(row) if row else None

    def all(self) -> list[PayerRecord]:
        with self._lock:
            rows = self.db.execute(f"SELECT {self._COLUMNS} FROM channels").fetchall()
        return [_payer_record(r) for r in rows]

    def record_state(self, state: SignedState) -> None:
        """Durably keep a state (raises if the nonce was used)."""
        self.record_states([state])

    def record_states(self, states: Iterable[SignedState]) -> None:
        """Durably keep several states in one commit (raises if a nonce was used)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO states (channel_id, nonce, cumulative, signature) VALUES (?,?,?,?)",
                [(s.channel_id, s.nonce, s.cumulative, s.signature) for s in states],
            )

    def record_state_soon(self, state: SignedState) -> Future[None]:
        """Queue a state for the writer thread; the future resolves once it is on disk.

        States queued while a commit runs share the next one (one fsync for the group).
        """
        with self._queue_lock:
            fut: Future[None] = Future()
            self._queued.append((state, fut))
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_queued, name="payer-states", daemon=True
                )
                self._writer.start()
            return fut

    def _write_queued(self) -> None:
        while True:
            with self._queue_lock:
                batch, self._queued = self._queued, []
                if not batch:
                    self._writer = None
                    return
            try:
                self.record_states(s for s, _ in batch)
            except BaseException as exc:  # one bad state fails its group, not later ones
                for _, fut in batch:
                    fut.set_exception(exc)
            else:
                for _, fut in batch:
                    fut.set_result(None)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued state is on disk."""
        with self._queue_lock:
            pending = [f for _, f in self._queued]
            writer = self._writer
        for fut in pending:
            fut.exception(timeout)
        if writer is not None:
            writer.join(timeout)

    def latest_state(self, channel_id: bytes) -> SignedState | None:
        with self._lock:
            row = self.db.execute(
                "SELECT nonce, cumulative, signature FROM states WHERE channel_id = ? "
                "ORDER BY nonce DESC LIMIT 1",
                (channel_id,),
            ).fetchone()
        return SignedState(channel_id, row[0], row[1], bytes(row[2])) if row else None

    def state_count(self, channel_id: bytes) -> int:
        with self._lock:
            row = self.db.execute(
                "SELECT COUNT(*) FROM states WHERE channel_id = ?", (channel_id,)
            ).fetchone()
        return int(row[0])


def _payer_record(row: Any) -> PayerRecord:
    salt = int(row[7])
    return PayerRecord(
        channel_id=bytes(row[0]),
        payer=str(row[1]),
        payee=str(row[2]),
        payee_endpoint=str(row[3]),
        info_hash=str(row[4]),
        deposit=int(row[5]),
        expiry=int(row[6]),
        salt=salt + 2**64 if salt < 0 else salt,
        rate=int(row[8]),
        refund=bytes(row[9]),
        topup_sequence=int(row[10]),
        status=None if row[11] == _PROPOSED else ChannelStatus(row[11]),
    )


# ---------------------------------------------------------------- payee


@dataclass(frozen=True, slots=True)
class PayeeRecord:
    channel_id: bytes
    payer: str
    deposit: int
    expiry: int
    rate: int
    info_hash: str
    peer_endpoint: str
    status: ChannelStatus = ChannelStatus.OPEN  # CLOSING: we are closing it (or the payer is)
    best_nonce: int = 0
    best_cumulative: int = 0
    best_signature: bytes = b""
    checkpoint_nonce: int = 0  # best nonce the ledger holds
    owed: int = 0  # value delivered so far at the agreed rates
    topup_sequence: int = 0

    def best_state(self) -> SignedState | None:
        if not self.best_nonce:
            return None
        return SignedState(
            self.channel_id, self.best_nonce, self.best_cumulative, self.best_signature
        )

    def with_best(self, nonce: int, cumulative: int, signature: bytes) -> PayeeRecord:
        """A copy holding a new best state (hot path: cheaper than dataclasses.replace)."""
        return PayeeRecord(
            self.channel_id,
            self.payer,
            self.deposit,
            self.expiry,
            self.rate,
            self.info_hash,
            self.peer_endpoint,
            self.status,
            nonce,
            cumulative,
            signature,
            self.checkpoint_nonce,
            self.owed,
            self.topup_sequence,
        )

    def with_(self, **changes: object) -> PayeeRecord:
        return replace(self, **changes)  # type: ignore[arg-type]


class PayeeStore(_Store):
    VERSION = 2
    SCHEMA = (
        """CREATE TABLE channels (
        channel_id BLOB PRIMARY KEY, payer TEXT NOT NULL, deposit INTEGER NOT NULL,
        expiry INTEGER NOT NULL, rate INTEGER NOT NULL, info_hash TEXT NOT NULL,
        peer_endpoint TEXT NOT NULL, status TEXT NOT NULL, best_nonce INTEGER NOT NULL,
        best_cumulative INTEGER NOT NULL, best_signature BLOB NOT NULL,
        checkpoint_nonce INTEGER NOT NULL, owed INTEGER NOT NULL,
        topup_sequence INTEGER NOT NULL)""",
        # refunds signed for proposed channels: ChannelOpened must match these terms
        """CREATE TABLE proposals (
        channel_id BLOB PRIMARY KEY, payer TEXT NOT NULL, deposit INTEGER NOT NULL,
        expiry INTEGER NOT NULL, rate INTEGER NOT NULL, info_hash TEXT NOT NULL)""",
        """CREATE TABLE failures (
        payer TEXT PRIMARY KEY, count INTEGER NOT NULL, last_reason TEXT NOT NULL)""",
    )
    UPGRADES = {1: ("UPDATE channels SET status = upper(status)",)}  # 2: core's status names
    _COLUMNS = (
        "channel_id, payer, deposit, expiry, rate, info_hash, peer_endpoint, status, best_nonce, "
        "best_cumulative, best_signature, checkpoint_nonce, owed, topup_sequence"
    )

    def put(self, record: PayeeRecord) -> None:
        with self.transaction() as db:
            self._put(db, record)

    def _put(self, db: sqlite3.Connection, r: PayeeRecord) -> None:
        db.execute(
            f"INSERT OR REPLACE INTO channels ({self._COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.channel_id,
                r.payer,
                r.deposit,
                r.expiry,
                r.rate,
                r.info_hash,
                r.peer_endpoint,
                r.status.value,
                r.best_nonce,
                r.best_cumulative,
                r.best_signature,
                r.checkpoint_nonce,
                r.owed,
                r.topup_sequence,
            ),
        )

    def save_best(
        self, records: Iterable[PayeeRecord], failures: Mapping[str, tuple[int, str]] | None = None
    ) -> None:
        """One fsync'd commit for a batch of accepted updates and refused ones (the hot path).

        `failures` maps a payer to (new refusals, last reason).
        """
        rows = [
            (r.best_nonce, r.best_cumulative, r.best_signature, r.owed, r.channel_id)
            for r in records
        ]
        with self.transaction() as db:
            db.executemany(
                "UPDATE channels SET best_nonce = ?, best_cumulative = ?, best_signature = ?, "
                "owed = ? WHERE channel_id = ?",
                rows,
            )
            for payer, (count, reason) in (failures or {}).items():
                db.execute(
                    "INSERT INTO failures (payer, count, last_reason) VALUES (?, ?, ?) "
                    "ON CONFLICT(payer) DO UPDATE SET count = count + excluded.count, "
                    "last_reason = excluded.last_reason",
                    (payer, count, reason),
                )

    def all(self) -> list[PayeeRecord]:
        with self._lock:
            rows = self.db.execute(f"SELECT {self._COLUMNS} FROM channels").fetchall()
        return [
            PayeeRecord(
                bytes(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                ChannelStatus(r[7]),
                r[8],
                r[9],
                bytes(r[10]),
                r[11],
                r[12],
                r[13],
            )
            for r in rows
        ]

    def propose(
        self, channel_id: bytes, payer: str, deposit: int, expiry: int, rate: int, info_hash: str
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO proposals VALUES (?,?,?,?,?,?)",
                (channel_id, payer, deposit, expiry, rate, info_hash),
            )

    def proposal(self, channel_id: bytes) -> tuple[str, int, int, int, str] | None:
        with self._lock:
            row = self.db.execute(
                "SELECT payer, deposit, expiry, rate, info_hash FROM proposals "
                "WHERE channel_id = ?",
                (channel_id,),
            ).fetchone()
        return (row[0], row[1], row[2], row[3], row[4]) if row else None

    def failures(self) -> dict[str, int]:
        with self._lock:
            rows = self.db.execute("SELECT payer, count FROM failures").fetchall()
        return {str(p): int(c) for p, c in rows}
