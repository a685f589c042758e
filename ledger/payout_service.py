"""The bridge's lease and payout records: use cases mixed into `LedgerService`.

Each is one database transaction around one pure decision of `ledger.payouts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from core.rejections import Rejected, Rejection
from core.status import WithdrawalStatus
from core.types import INT64_MAX, Timestamp
from ledger import payouts
from ledger.domain import Withdrawal
from ledger.storage import payout_store
from ledger.storage.store import Tx

T = TypeVar("T")


class PayoutRecordsMixin:
    if TYPE_CHECKING:

        def _write(self, work: Callable[[Tx, Timestamp], T]) -> T: ...

    def acquire_lease(self, holder: str, ttl_seconds: int) -> tuple[bool, payouts.Lease]:
        """(granted, the lease as it stands afterwards)."""

        def work(tx: Tx, now: Timestamp) -> tuple[bool, payouts.Lease]:
            current = payout_store.lease(tx)
            granted = payouts.acquire(current, holder, ttl_seconds, now)
            if granted is None:
                return False, current
            payout_store.put_lease(tx, granted)
            return True, granted

        return self._write(work)

    def release_lease(self, holder: str) -> payouts.Lease:
        def work(tx: Tx, _now: Timestamp) -> payouts.Lease:
            after = payouts.release(payout_store.lease(tx), holder)
            payout_store.put_lease(tx, after)
            return after

        return self._write(work)

    def record_payout_tx(
        self,
        withdrawal_id: int,
        *,
        holder: str,
        replaces_txid: str,
        txid: str,
        expiration_ms: int,
        signed_tx: bytes,
    ) -> tuple[Withdrawal, list[payouts.PayoutTx]]:
        txid = payouts.check_txid(txid)
        payouts.check_holder(holder)
        if not 0 < withdrawal_id <= INT64_MAX:
            raise Rejected(Rejection.MALFORMED, "withdrawal_id is out of range")

        def work(tx: Tx, now: Timestamp) -> tuple[Withdrawal, list[payouts.PayoutTx]]:
            lease = payout_store.lease(tx)
            w = tx.withdrawal(withdrawal_id)
            if w is None:
                raise Rejected(Rejection.UNKNOWN_WITHDRAWAL, f"no withdrawal {withdrawal_id}")
            recorded = payout_store.payout_txs(tx, [withdrawal_id]).get(withdrawal_id, [])
            elsewhere = payout_store.payout_tx(tx, txid)
            if elsewhere is not None and elsewhere.withdrawal_id != withdrawal_id:
                raise Rejected(
                    Rejection.PAYOUT_CONFLICT,
                    f"tx {txid} is recorded for withdrawal {elsewhere.withdrawal_id}",
                )
            if w.status is not WithdrawalStatus.PENDING and all(r.txid != txid for r in recorded):
                raise Rejected(
                    Rejection.WITHDRAWAL_NOT_PENDING,
                    f"withdrawal {withdrawal_id} is {w.status.value}",
                )
            new = payouts.record(
                recorded,
                lease,
                withdrawal_id=withdrawal_id,
                holder=holder,
                replaces_txid=replaces_txid,
                txid=txid,
                expiration_ms=expiration_ms,
                signed_tx=signed_tx,
                now=now,
            )
            if new is not None:
                payout_store.insert_payout_tx(tx, new)
                recorded = [*recorded, new]
            return w, recorded

        return self._write(work)
