"""Repository of the bridge's lease and payout records, inside one `Tx` (the unit of work)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from core.types import Timestamp
from ledger.payouts import FREE, Lease, PayoutTx
from ledger.storage import schema as t
from ledger.storage.rows import _insert_ignore
from ledger.storage.tx import Tx

LEASE_NAME = "bridge"


def lease(tx: Tx) -> Lease:
    """The lease row, locked for the rest of the transaction (created free on first use)."""
    _insert_ignore(tx.conn, t.bridge_lease, [{"name": LEASE_NAME, "holder": "", "expires_at": 0}])
    q = select(t.bridge_lease).where(t.bridge_lease.c.name == LEASE_NAME)
    if tx.lock:
        q = q.with_for_update()
    row = tx.conn.execute(q).one()
    return Lease(row.holder, Timestamp(row.expires_at))


def read_lease(tx: Tx) -> Lease:
    q = select(t.bridge_lease).where(t.bridge_lease.c.name == LEASE_NAME)
    row = tx.conn.execute(q).first()
    return Lease(row.holder, Timestamp(row.expires_at)) if row else FREE


def put_lease(tx: Tx, value: Lease) -> None:
    tx.conn.execute(
        update(t.bridge_lease)
        .where(t.bridge_lease.c.name == LEASE_NAME)
        .values(holder=value.holder, expires_at=value.expires_at)
    )


def _payout_tx(row: object) -> PayoutTx:
    r = row._mapping  # type: ignore[attr-defined]
    return PayoutTx(
        withdrawal_id=r["withdrawal_id"],
        txid=r["txid"],
        seq=r["seq"],
        expiration_ms=r["expiration_ms"],
        signed_tx=bytes(r["signed_tx"]),
        recorded_at=Timestamp(r["recorded_at"]),
    )


def payout_txs(tx: Tx, withdrawal_ids: Iterable[int]) -> dict[int, list[PayoutTx]]:
    """Recorded txs per withdrawal, in seq order (withdrawals without any are absent)."""
    ids = list(withdrawal_ids)
    if not ids:
        return {}
    q = (
        select(t.payout_txs)
        .where(t.payout_txs.c.withdrawal_id.in_(ids))
        .order_by(t.payout_txs.c.withdrawal_id, t.payout_txs.c.seq)
    )
    found: dict[int, list[PayoutTx]] = {}
    for row in tx.conn.execute(q):
        record = _payout_tx(row)
        found.setdefault(record.withdrawal_id, []).append(record)
    return found


def payout_tx(tx: Tx, txid: str) -> PayoutTx | None:
    row = tx.conn.execute(select(t.payout_txs).where(t.payout_txs.c.txid == txid)).first()
    return _payout_tx(row) if row else None


def insert_payout_tx(tx: Tx, record: PayoutTx) -> None:
    tx.conn.execute(
        t.payout_txs.insert().values(
            txid=record.txid,
            withdrawal_id=record.withdrawal_id,
            seq=record.seq,
            expiration_ms=record.expiration_ms,
            signed_tx=record.signed_tx,
            recorded_at=record.recorded_at,
        )
    )
