"""The Treasury's use cases mixed into `LedgerService`: deposits credited once, withdrawals.

A deposit is credited once per (txid, contract index); a withdrawal is reserved from the balance
when requested (the protocol's withdrawal rules decide) and finished as paid or failed, its money
returned, by the bridge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.status import EventKind, WithdrawalStatus
from core.types import Amount, Timestamp
from core.wire import withdrawal_status_from_pb
from ledger import payouts, protocol
from ledger.domain import Account, Withdrawal
from ledger.protocol import CHAIN_DEPOSITS, Bucket, Movement
from ledger.storage import payout_store
from ledger.storage.store import Tx
from ledger.usecase import WITHDRAWAL_REPLY, Once, _once

T = TypeVar("T")

MAX_REASON_CHARS = 500
EVENT_REFERENCE_CHARS = 160  # the events.reference column


def _withdrawal_page(status: str, limit: int) -> tuple[WithdrawalStatus | None, int]:
    """A listing's status filter (None: all) and its page size, checked."""
    wanted = withdrawal_status_from_pb(status)
    if status and wanted is None:
        raise Rejected(Rejection.MALFORMED, "status must be pending, paid or failed")
    return wanted, min(max(limit or 100, 1), 1000)


class TreasuryMixin:
    if TYPE_CHECKING:

        def _write(self, work: Callable[[Tx, Timestamp], T], once: Once[T] | None = None) -> T: ...

        def _read(self, work: Callable[[Tx], T]) -> T: ...

    def credit_deposit(
        self, txid: str, contract_index: int, account_id: str, amount: int, tron_from: str
    ) -> tuple[bool, Account]:
        txid = payouts.check_txid(txid)
        protocol.check_index(contract_index, "contract_index")
        protocol.check_address(account_id, "account")
        protocol.check_address(tron_from, "tron_from")
        protocol.check_amount(amount, "amount")

        def work(tx: Tx, now: Timestamp) -> tuple[bool, Account]:
            account = tx.accounts([account_id], create_at=now)[account_id]
            earlier = tx.deposit_exists(txid, contract_index)
            if earlier is not None:
                if earlier != (account_id, amount):
                    raise Rejected(
                        Rejection.DEPOSIT_CONFLICT,
                        f"deposit {txid}:{contract_index} was credited with other terms",
                    )
                return False, account
            protocol.check_supply(*tx.credit_totals(), amount)
            protocol.credit(account.balance, amount, "balance")
            if not tx.insert_deposit(txid, contract_index, account_id, amount, tron_from, now):
                return False, account
            tx.post(
                [Movement(CHAIN_DEPOSITS, Bucket.account(account_id), Amount(amount))],
                op="deposit",
                reference=f"{txid}:{contract_index}",
                at=now,
            )
            tx.add_event(
                EventKind.CREDIT, at=now, accounts=[account_id], amount=amount, reference=txid
            )
            return True, Account(account_id, Amount(account.balance + amount), account.nonce)

        return self._write(work)

    def request_withdrawal(
        self,
        account_id: str,
        tron_address: str,
        amount: int,
        nonce: int,
        proof: SignedBy,
        *,
        request: bytes | None = None,
    ) -> Withdrawal:
        protocol.check_address(account_id, "account")

        def work(tx: Tx, now: Timestamp) -> Withdrawal:
            account = tx.accounts([account_id], create_at=now)[account_id]
            units = protocol.request_withdrawal(account, tron_address, amount, nonce, proof)
            w = tx.insert_withdrawal(account_id, tron_address, units, nonce, now)
            op = protocol.WithdrawalOp.REQUEST
            tx.post(
                [protocol.reserve(w)],
                op=op.value,
                reference=f"withdrawal:{w.withdrawal_id}",
                at=now,
                nonces={account_id: nonce},
            )
            tx.add_event(
                protocol.WITHDRAWAL_EVENTS[op],
                at=now,
                accounts=[account_id],
                amount=units,
                reference=str(w.withdrawal_id),
            )
            return w

        return self._write(work, _once(request, "request_withdrawal", WITHDRAWAL_REPLY))

    def list_withdrawals(
        self, status: str = "", limit: int = 100, after: int = 0, *, account: str = ""
    ) -> list[Withdrawal]:
        """Oldest first after the id `after`; only `account`'s when given."""
        wanted, limit = _withdrawal_page(status, limit)
        protocol.check_id(after, "after_id")
        if account:
            protocol.check_address(account, "account")
        return self._read(
            lambda tx: tx.list_withdrawals(status=wanted, limit=limit, after=after, account=account)
        )

    def _finish_withdrawal(
        self, withdrawal_id: int, *, paid: bool, txid: str, reason: str
    ) -> Withdrawal:
        def work(tx: Tx, now: Timestamp) -> Withdrawal:
            w = tx.withdrawal(withdrawal_id)
            if w is None:
                raise Rejected(Rejection.UNKNOWN_WITHDRAWAL, f"no withdrawal {withdrawal_id}")
            t = protocol.finish_withdrawal(w, paid=paid, txid=txid, reason=reason, now=now)
            if t is None:
                return w  # idempotent repeat of the same confirmation
            if not paid:
                tx.accounts([w.account_id], create_at=now)
            tx.update_withdrawal(
                withdrawal_id, status=t.after.status, txid=txid, reason=reason, at=now
            )
            tx.post([t.movement], op=t.op.value, reference=f"withdrawal:{withdrawal_id}", at=now)
            tx.add_event(
                t.event,
                at=now,
                accounts=[w.account_id],
                amount=w.amount,
                reference=txid or reason[:EVENT_REFERENCE_CHARS],
            )
            updated = tx.withdrawal(withdrawal_id)
            assert updated is not None
            return updated

        return self._write(work)

    def mark_withdrawal_paid(self, withdrawal_id: int, txid: str) -> Withdrawal:
        protocol.check_id(withdrawal_id, "withdrawal_id")
        txid = payouts.check_txid(txid)
        return self._finish_withdrawal(withdrawal_id, paid=True, txid=txid, reason="")

    def mark_withdrawal_failed(self, withdrawal_id: int, reason: str) -> Withdrawal:
        protocol.check_id(withdrawal_id, "withdrawal_id")
        protocol.check_text(reason, "reason", MAX_REASON_CHARS)
        return self._finish_withdrawal(
            withdrawal_id, paid=False, txid="", reason=reason or "failed"
        )

    # ------------------------------------------------------------ payout records (the bridge's)
    def list_payouts(
        self, status: str = "", limit: int = 100, after: int = 0
    ) -> list[tuple[Withdrawal, list[payouts.PayoutTx]]]:
        wanted, limit = _withdrawal_page(status, limit)
        protocol.check_id(after, "after_id")

        def work(tx: Tx) -> list[tuple[Withdrawal, list[payouts.PayoutTx]]]:
            ws = tx.list_withdrawals(status=wanted, limit=limit, after=after)
            txs = payout_store.payout_txs(tx, [w.withdrawal_id for w in ws])
            return [(w, txs.get(w.withdrawal_id, [])) for w in ws]

        return self._read(work)
