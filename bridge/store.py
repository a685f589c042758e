"""The bridge's own durable state: scan cursor, bindings, deposits seen, payouts and their txs.

Every write is one short transaction, committed before the effect it enables (a signed payout
tx is on disk before its first broadcast), so a crash at any point leaves a state to resume.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.database import is_sqlite, make_engine

metadata = MetaData()

kv = Table(
    "bridge_kv", metadata, Column("key", String(64), primary_key=True), Column("value", Text)
)
bindings = Table(
    "bridge_bindings",
    metadata,
    Column("tron_address", String(64), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("proof", Text, nullable=False),  # the signed binding, JSON
    Column("bound_at", Float, nullable=False),
)
deposits = Table(
    "bridge_deposits",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("contract_index", Integer, primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("tron_from", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("account", String(64)),
    Column("status", String(16), nullable=False),  # credited | suspense
    Column("reason", Text, nullable=False, default=""),
    Column("seen_at", Float, nullable=False),
    Column("credited_at", Float),
)
payouts = Table(
    "bridge_payouts",
    metadata,
    Column("withdrawal_id", BigInteger, primary_key=True),
    Column("account", String(64), nullable=False),
    Column("tron_address", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # open | paid | failed
    Column("reason", Text, nullable=False, default=""),
    Column("paid_txid", String(64)),
    Column("day", String(10), nullable=False),  # UTC day the payout started (daily limit)
    Column("created_at", Float, nullable=False),
)
payout_txs = Table(
    "bridge_payout_txs",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("withdrawal_id", BigInteger, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("signed_json", Text, nullable=False),
    Column("expiration", BigInteger, nullable=False),  # ms, from the signed bytes
    Column("state", String(16), nullable=False),  # active | rejected | expired
    Column("reason", Text, nullable=False, default=""),
    Column("signed_at", Float, nullable=False),
    Column("broadcast_at", Float),
)

CURSOR_KEY = "scan_cursor"


@dataclass(frozen=True, slots=True)
class Binding:
    tron_address: str
    account: str
    proof: str
    bound_at: float


@dataclass(frozen=True, slots=True)
class DepositRow:
    txid: str
    contract_index: int
    block_number: int
    tron_from: str
    amount: int
    account: str | None
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class Payout:
    withdrawal_id: int
    account: str
    tron_address: str
    amount: int
    status: str
    reason: str
    paid_txid: str | None
    day: str
    created_at: float


@dataclass(frozen=True, slots=True)
class PayoutTx:
    txid: str
    withdrawal_id: int
    seq: int
    signed_json: str
    expiration: int
    state: str
    reason: str
    signed_at: float
    broadcast_at: float | None


def utc_day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


class BridgeStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        self.url = url
        self.engine = make_engine(url, pool_size=2)
        self._insert = sqlite_insert if is_sqlite(url) else pg_insert
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # cursor

    def cursor(self) -> int | None:
        with self._tx() as c:
            value = c.execute(select(kv.c.value).where(kv.c.key == CURSOR_KEY)).scalar()
        return None if value is None else int(value)

    def set_cursor(self, next_block: int) -> None:
        stmt = self._insert(kv).values(key=CURSOR_KEY, value=str(next_block))
        with self._tx() as c:
            c.execute(
                stmt.on_conflict_do_update(index_elements=["key"], set_={"value": str(next_block)})
            )

    # bindings

    def put_binding(self, tron_address: str, account: str, proof: str) -> None:
        values = {"account": account, "proof": proof, "bound_at": time.time()}
        stmt = self._insert(bindings).values(tron_address=tron_address, **values)
        with self._tx() as c:
            c.execute(stmt.on_conflict_do_update(index_elements=["tron_address"], set_=values))

    def binding(self, tron_address: str) -> Binding | None:
        with self._tx() as c:
            row = c.execute(select(bindings).where(bindings.c.tron_address == tron_address)).first()
        return Binding(**row._mapping) if row else None

    def bindings(self) -> list[Binding]:
        with self._tx() as c:
            rows = c.execute(select(bindings).order_by(bindings.c.bound_at)).all()
        return [Binding(**r._mapping) for r in rows]

    # deposits

    def deposit(self, txid: str, index: int) -> DepositRow | None:
        q = select(deposits).where(deposits.c.txid == txid, deposits.c.contract_index == index)
        with self._tx() as c:
            row = c.execute(q).first()
        return _deposit(row) if row else None

    def record_deposit(
        self,
        txid: str,
        index: int,
        *,
        block_number: int,
        tron_from: str,
        amount: int,
        account: str | None,
        status: str,
        reason: str = "",
    ) -> None:
        """Insert or update; a credited deposit never goes back to suspense."""
        now = time.time()
        values = {
            "account": account,
            "status": status,
            "reason": reason,
            "credited_at": now if status == "credited" else None,
        }
        stmt = self._insert(deposits).values(
            txid=txid,
            contract_index=index,
            block_number=block_number,
            tron_from=tron_from,
            amount=amount,
            seen_at=now,
            **values,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["txid", "contract_index"],
            set_=values,
            where=deposits.c.status != "credited",
        )
        with self._tx() as c:
            c.execute(stmt)

    def deposits(self, status: str | None = None) -> list[DepositRow]:
        q = select(deposits).order_by(deposits.c.block_number, deposits.c.txid)
        if status:
            q = q.where(deposits.c.status == status)
        with self._tx() as c:
            return [_deposit(r) for r in c.execute(q).all()]

    # payouts

    def payout(self, withdrawal_id: int) -> Payout | None:
        with self._tx() as c:
            row = c.execute(select(payouts).where(payouts.c.withdrawal_id == withdrawal_id)).first()
        return Payout(**row._mapping) if row else None

    def payouts(self, status: str | None = None) -> list[Payout]:
        q = select(payouts).order_by(payouts.c.withdrawal_id)
        if status:
            q = q.where(payouts.c.status == status)
        with self._tx() as c:
            return [Payout(**r._mapping) for r in c.execute(q).all()]

    def started_today(self, day: str) -> int:
        """Base units of payouts started on `day` that did not fail (the daily limit's use)."""
        q = select(func.coalesce(func.sum(payouts.c.amount), 0)).where(
            payouts.c.day == day, payouts.c.status != "failed"
        )
        with self._tx() as c:
            return int(c.execute(q).scalar() or 0)

    def start_payout(
        self,
        withdrawal_id: int,
        account: str,
        tron_address: str,
        amount: int,
        signed_json: str,
        txid: str,
        expiration: int,
    ) -> None:
        """The payout and its first signed tx, in one transaction, before any broadcast."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                payouts.insert().values(
                    withdrawal_id=withdrawal_id,
                    account=account,
                    tron_address=tron_address,
                    amount=amount,
                    status="open",
                    reason="",
                    day=utc_day(now),
                    created_at=now,
                )
            )
            _add_tx(c, withdrawal_id, 0, signed_json, txid, expiration, now)

    def replace_tx(
        self, withdrawal_id: int, old_txid: str, signed_json: str, txid: str, expiration: int
    ) -> None:
        """Retire an expired tx and persist its replacement, atomically."""
        now = time.time()
        with self._tx() as c:
            seq = c.execute(
                select(func.max(payout_txs.c.seq)).where(
                    payout_txs.c.withdrawal_id == withdrawal_id
                )
            ).scalar()
            c.execute(
                update(payout_txs).where(payout_txs.c.txid == old_txid).values(state="expired")
            )
            _add_tx(c, withdrawal_id, int(seq or 0) + 1, signed_json, txid, expiration, now)

    def txs(self, withdrawal_id: int) -> list[PayoutTx]:
        q = (
            select(payout_txs)
            .where(payout_txs.c.withdrawal_id == withdrawal_id)
            .order_by(payout_txs.c.seq)
        )
        with self._tx() as c:
            return [PayoutTx(**r._mapping) for r in c.execute(q).all()]

    def tx_broadcast(self, txid: str) -> None:
        with self._tx() as c:
            c.execute(
                update(payout_txs)
                .where(payout_txs.c.txid == txid, payout_txs.c.broadcast_at.is_(None))
                .values(broadcast_at=time.time())
            )

    def tx_rejected(self, txid: str, reason: str) -> None:
        with self._tx() as c:
            c.execute(
                update(payout_txs)
                .where(payout_txs.c.txid == txid)
                .values(state="rejected", reason=reason[:500])
            )

    def finish_payout(
        self, withdrawal_id: int, status: str, *, paid_txid: str | None = None, reason: str = ""
    ) -> None:
        with self._tx() as c:
            c.execute(
                update(payouts)
                .where(payouts.c.withdrawal_id == withdrawal_id)
                .values(status=status, paid_txid=paid_txid, reason=reason[:500])
            )

    def record_failed_payout(
        self, withdrawal_id: int, account: str, tron_address: str, amount: int, reason: str
    ) -> None:
        """A withdrawal refused before any tx was made (over a limit, bad address)."""
        now = time.time()
        stmt = self._insert(payouts).values(
            withdrawal_id=withdrawal_id,
            account=account,
            tron_address=tron_address,
            amount=amount,
            status="failed",
            reason=reason[:500],
            day=utc_day(now),
            created_at=now,
        )
        with self._tx() as c:
            c.execute(stmt.on_conflict_do_nothing(index_elements=["withdrawal_id"]))


def _add_tx(
    c: Connection,
    withdrawal_id: int,
    seq: int,
    signed_json: str,
    txid: str,
    expiration: int,
    now: float,
) -> None:
    c.execute(
        payout_txs.insert().values(
            txid=txid,
            withdrawal_id=withdrawal_id,
            seq=seq,
            signed_json=signed_json,
            expiration=expiration,
            state="active",
            reason="",
            signed_at=now,
        )
    )


def _deposit(row: object) -> DepositRow:
    m = row._mapping  # type: ignore[attr-defined]
    return DepositRow(
        txid=m["txid"],
        contract_index=m["contract_index"],
        block_number=m["block_number"],
        tron_from=m["tron_from"],
        amount=m["amount"],
        account=m["account"],
        status=m["status"],
        reason=m["reason"],
    )
