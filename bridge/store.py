"""The bridge's own durable state: scan cursor, bindings, deposits seen, payouts and their txs.

Every write is one short transaction. The ledger is the record of signed payout txs; the rows
here mirror it (for `status`, `reconcile` and the daily limit) and add what only this bridge
saw: the node's answers to its broadcasts and the payout memos its scanner met on chain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bridge.migrate import upgrade
from bridge.records import LedgerPayout
from bridge.schema import (
    DepositStatus,
    PayoutStatus,
    TxState,
    bindings,
    chain_payouts,
    deposits,
    kv,
    payout_txs,
    payouts,
)
from core.database import is_sqlite, make_engine

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
    status: DepositStatus
    reason: str


@dataclass(frozen=True, slots=True)
class Payout:
    withdrawal_id: int
    account: str
    tron_address: str
    amount: int
    status: PayoutStatus
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
    state: TxState
    reason: str
    signed_at: float
    broadcast_at: float | None


@dataclass(frozen=True, slots=True)
class ChainPayout:
    txid: str
    contract_index: int
    withdrawal_id: int
    block_number: int
    to_address: str
    amount: int
    success: bool


@dataclass(frozen=True, slots=True)
class SeenLocally:
    refusals: dict[str, str]  # txid -> why the node refused it for good
    memos: list[ChainPayout]
    used_today: int


def utc_day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


class BridgeStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            parent = Path(url.removeprefix("sqlite:///")).expanduser().parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                message = f"cannot make the database's directory ({exc.strerror})"
                raise OSError(exc.errno, message, str(parent)) from None
        self.url = url
        self.engine = make_engine(url, pool_size=2)
        self._insert = sqlite_insert if is_sqlite(url) else pg_insert
        upgrade(self.engine)

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
        status: DepositStatus,
        reason: str = "",
    ) -> None:
        """Insert or update; a credited deposit never goes back to suspense."""
        now = time.time()
        values = {
            "account": account,
            "status": status,
            "reason": reason,
            "credited_at": now if status is DepositStatus.CREDITED else None,
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
            where=deposits.c.status != DepositStatus.CREDITED,
        )
        with self._tx() as c:
            c.execute(stmt)

    def deposits(self, status: DepositStatus | None = None) -> list[DepositRow]:
        q = select(deposits).order_by(deposits.c.block_number, deposits.c.txid)
        if status:
            q = q.where(deposits.c.status == status)
        with self._tx() as c:
            return [_deposit(r) for r in c.execute(q).all()]

    # payouts

    def payout(self, withdrawal_id: int) -> Payout | None:
        with self._tx() as c:
            row = c.execute(select(payouts).where(payouts.c.withdrawal_id == withdrawal_id)).first()
        return _payout(row) if row else None

    def payouts(self, status: PayoutStatus | None = None) -> list[Payout]:
        q = select(payouts).order_by(payouts.c.withdrawal_id)
        if status:
            q = q.where(payouts.c.status == status)
        with self._tx() as c:
            return [_payout(r) for r in c.execute(q).all()]

    def payout_counts(self) -> dict[PayoutStatus, int]:
        q = select(payouts.c.status, func.count()).group_by(payouts.c.status)
        with self._tx() as c:
            return {PayoutStatus(status): int(n) for status, n in c.execute(q)}

    def seen_locally(self, withdrawal_id: int, day: str) -> SeenLocally:
        """What only this bridge knows about a payout, read at once: the node's refusals, the
        payout memos its scanner met, and the daily limit's use on `day`."""
        refused = select(payout_txs.c.txid, payout_txs.c.reason).where(
            payout_txs.c.withdrawal_id == withdrawal_id, payout_txs.c.state == TxState.REFUSED
        )
        memos = (
            select(chain_payouts)
            .where(chain_payouts.c.withdrawal_id == withdrawal_id)
            .order_by(chain_payouts.c.block_number, chain_payouts.c.txid)
        )
        used = select(func.coalesce(func.sum(payouts.c.amount), 0)).where(
            payouts.c.day == day, payouts.c.status != PayoutStatus.FAILED
        )
        with self._tx() as c:
            return SeenLocally(
                refusals={r.txid: r.reason for r in c.execute(refused)},
                memos=[ChainPayout(**r._mapping) for r in c.execute(memos)],
                used_today=int(c.execute(used).scalar() or 0),
            )

    def mirror_payout(self, payout: LedgerPayout) -> None:
        """Take in the ledger's record of a pending payout's txs: an open local row once it has
        any tx, each recorded tx, the older ones marked expired (replaced). Repeats change
        nothing."""
        if not payout.txs:
            return
        w = payout.withdrawal
        first = payout.txs[0].recorded_at
        row = {
            "withdrawal_id": payout.id,
            "account": w.account,
            "tron_address": w.tron_address,
            "amount": w.amount,
            "status": PayoutStatus.OPEN,
            "reason": "",
            "day": utc_day(first),
            "created_at": float(first),
        }
        latest = payout.txs[-1].txid
        reopen = {"status": PayoutStatus.OPEN, "reason": "", "paid_txid": None}
        with self._tx() as c:
            # The ledger's word wins: pending there is open here, whatever a restored copy said.
            c.execute(
                self._insert(payouts)
                .values(row)
                .on_conflict_do_update(index_elements=["withdrawal_id"], set_=reopen)
            )
            for t in payout.txs:
                c.execute(
                    self._insert(payout_txs)
                    .values(
                        txid=t.txid,
                        withdrawal_id=payout.id,
                        seq=t.seq,
                        signed_json=t.signed.to_json(),
                        expiration=t.expiration,
                        state=TxState.ACTIVE if t.txid == latest else TxState.EXPIRED,
                        reason="",
                        signed_at=float(t.recorded_at),
                    )
                    .on_conflict_do_nothing()
                )
            c.execute(
                update(payout_txs)
                .where(
                    payout_txs.c.withdrawal_id == payout.id,
                    payout_txs.c.txid != latest,
                    payout_txs.c.state == TxState.ACTIVE,
                )
                .values(state=TxState.EXPIRED)
            )

    def close_payout(
        self,
        payout: LedgerPayout,
        status: PayoutStatus,
        *,
        paid_txid: str | None = None,
        reason: str = "",
    ) -> None:
        """The payout's outcome (paid or failed), with a row even if no tx was ever signed."""
        w = payout.withdrawal
        now = time.time()
        values = {"status": status, "paid_txid": paid_txid, "reason": reason[:500]}
        stmt = self._insert(payouts).values(
            withdrawal_id=payout.id,
            account=w.account,
            tron_address=w.tron_address,
            amount=w.amount,
            day=utc_day(now),
            created_at=now,
            **values,
        )
        with self._tx() as c:
            c.execute(stmt.on_conflict_do_update(index_elements=["withdrawal_id"], set_=values))

    def txs(self, withdrawal_id: int) -> list[PayoutTx]:
        q = (
            select(payout_txs)
            .where(payout_txs.c.withdrawal_id == withdrawal_id)
            .order_by(payout_txs.c.seq)
        )
        with self._tx() as c:
            return [
                PayoutTx(**{**r._mapping, "state": TxState(r.state)}) for r in c.execute(q).all()
            ]

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
                .values(state=TxState.REFUSED, reason=reason[:500])
            )

    # payout memos seen on chain

    def record_chain_payout(
        self,
        txid: str,
        index: int,
        *,
        withdrawal_id: int,
        block_number: int,
        to_address: str,
        amount: int,
        success: bool,
    ) -> None:
        stmt = self._insert(chain_payouts).values(
            txid=txid,
            contract_index=index,
            withdrawal_id=withdrawal_id,
            block_number=block_number,
            to_address=to_address,
            amount=amount,
            success=success,
        )
        with self._tx() as c:
            c.execute(stmt.on_conflict_do_nothing())


def _deposit(row: object) -> DepositRow:
    m = row._mapping  # type: ignore[attr-defined]
    return DepositRow(
        txid=m["txid"],
        contract_index=m["contract_index"],
        block_number=m["block_number"],
        tron_from=m["tron_from"],
        amount=m["amount"],
        account=m["account"],
        status=DepositStatus(m["status"]),
        reason=m["reason"],
    )


def _payout(row: object) -> Payout:
    m = row._mapping  # type: ignore[attr-defined]
    return Payout(**{**m, "status": PayoutStatus(m["status"])})
