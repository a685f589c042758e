"""Withdrawal worker: pay each pending ledger withdrawal on chain exactly once.

Per withdrawal and pass: mirror the ledger's record of its payout txs, observe the chain (the
solid head first, then each tx), let `bridge.decide` choose one action, perform it. Signing
records the signed tx on the ledger (only the lease holder may, and only as the first tx or the
replacement of the latest) before its first broadcast, so neither a crash, nor a second bridge,
nor a bridge database restored from a backup can put a second payout beside it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bridge.crash import crash_point
from bridge.decide import (
    Act,
    Action,
    Limits,
    MemoSeen,
    Observation,
    PayoutRequest,
    TxSeen,
    decide,
    payout_memo,
)
from bridge.records import LedgerPayout as Payout
from bridge.records import from_ledger
from bridge.schema import PayoutStatus
from bridge.store import BridgeStore, utc_day
from bridge.tron import (
    ContractRejected,
    NodeRejected,
    SignatureRejected,
    SignedTx,
    TransactionTooBig,
    TronError,
    TronGateway,
)
from client_sdk.ledger_client import LedgerRejected
from client_sdk.treasury_client import TreasuryClient
from core.crypto import SigningKey
from core.status import WithdrawalStatus
from core.wire import withdrawal_status_from_pb

log = logging.getLogger("bridge.payout")

# Refusals that the same bytes can never overcome. Bandwidth is missing from this list on
# purpose: it is the operator's TRX to top up, not the user's fault.
PERMANENT = (ContractRejected, SignatureRejected, TransactionTooBig, NodeRejected)
NOT_PENDING = "WITHDRAWAL_NOT_PENDING"


class LeaseLost(Exception):
    """The ledger refused a payout record: this bridge no longer holds the lease."""


@dataclass
class PayoutResult:
    broadcast: list[tuple[int, str]] = field(default_factory=list)
    paid: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    held: list[tuple[int, str]] = field(default_factory=list)
    replaced: list[tuple[int, str]] = field(default_factory=list)
    # Withdrawals still pending after this pass (payouts in flight): a count, not an outcome,
    # so results compare by what the pass did.
    pending: int = field(default=0, compare=False)


class PayoutWorker:
    def __init__(
        self,
        gateway: TronGateway,
        treasury: TreasuryClient,
        store: BridgeStore,
        key: SigningKey,
        *,
        token_id: str,
        holder: str,
        limits: Limits | None = None,
        tx_lifetime_ms: int,
    ) -> None:
        self.gateway, self.treasury, self.store = gateway, treasury, store
        self._key = key
        self.token_id, self.holder = token_id, holder
        self.limits, self.lifetime = limits or Limits(), tx_lifetime_ms

    def __repr__(self) -> str:
        return f"PayoutWorker(address={self._key.address}, token_id={self.token_id})"

    def run_once(self) -> PayoutResult:
        result = PayoutResult()
        pending = [from_ledger(p) for p in self.treasury.payouts(WithdrawalStatus.PENDING)]
        for payout in pending:
            try:
                self._advance(payout, result)
            except TronError as exc:
                if not exc.retryable:
                    raise
                log.warning("withdrawal %d: node unavailable, retry next pass", payout.id)
        self._sync_closed({p.id for p in pending})
        result.pending = len(pending) - len(result.paid) - len(result.failed)
        return result

    # one withdrawal: observe, decide, act

    def _advance(self, payout: Payout, result: PayoutResult) -> None:
        self.store.mirror_payout(payout)
        observation = self._observe(payout)
        action = decide(observation, self.limits)
        self._perform(payout, observation, action, result)

    def _observe(self, payout: Payout) -> Observation:
        w = payout.withdrawal
        # The solid head before the txs: a tx seen nowhere after a solid head past its
        # expiration can never land (read the other way round, it could have landed between).
        solid_time = self.gateway.solid_head().timestamp
        local = self.store.seen_locally(payout.id, utc_day(time.time()))
        txs = []
        for t in payout.txs:
            status, block = self.gateway.get_solid_tx_status(t.txid)
            refused = local.refusals.get(t.txid, "")
            txs.append(TxSeen(t.txid, t.expiration, status, refused, block is not None))
        return Observation(
            PayoutRequest(w.tron_address, w.amount),
            tuple(txs),
            solid_time,
            tuple(MemoSeen(m.txid, m.to_address, m.amount, m.success) for m in local.memos),
            local.used_today,
        )

    def _perform(
        self, payout: Payout, seen: Observation, action: Action, result: PayoutResult
    ) -> None:
        wid = payout.id
        if action.act is Act.SIGN:
            self._sign_and_send(payout, "", result)
        elif action.act is Act.REPLACE:
            self._sign_and_send(payout, action.txid, result)
        elif action.act is Act.BROADCAST:
            self._broadcast(wid, payout.tx(action.txid).signed, result)
        elif action.act is Act.MARK_PAID:
            self._mark_paid(payout, action.txid, result)
        elif action.act in (Act.FAIL, Act.REFUSE):
            self._fail(payout, action.reason, result)
        elif action.act is Act.HOLD:
            result.held.append((wid, action.reason))
        elif any(t.in_block for t in seen.txs):  # WAIT, and a block has it
            crash_point("after_inclusion")

    def _sign(self, payout: Payout) -> SignedTx:
        w = payout.withdrawal
        tx = self.gateway.build_token_transfer(
            self._key.address,
            w.tron_address,
            w.amount,
            self.token_id,
            memo=payout_memo(w.withdrawal_id),
            expiration_ms=self.lifetime,
        )
        return self.gateway.sign(tx, self._key)

    def _sign_and_send(self, payout: Payout, replaces: str, result: PayoutResult) -> None:
        wid = payout.id
        signed = self._sign(payout)
        try:
            recorded = self.treasury.record_payout_tx(
                wid,
                holder=self.holder,
                replaces_txid=replaces,
                txid=signed.txid,
                expiration_ms=signed.expiration,
                signed_tx=signed.to_bytes(),
            )
        except LedgerRejected as exc:
            if exc.reason == "LEASE_NOT_HELD":
                raise LeaseLost(str(exc)) from None
            if exc.reason == NOT_PENDING:  # closed meanwhile: ours is never broadcast
                self._adopt(wid)
                return
            if exc.reason == "PAYOUT_CONFLICT":  # another bridge recorded one first: the same
                log.warning("withdrawal %d: not signing: %s", wid, exc)
                return
            raise
        self.store.mirror_payout(from_ledger(recorded))
        crash_point("after_sign")
        txid = signed.txid
        if replaces:
            result.replaced.append((wid, txid))
            log.info("withdrawal %d: tx %s expired unseen, replaced by %s", wid, replaces, txid)
        self._broadcast(wid, signed, result)

    def _broadcast(self, wid: int, signed: SignedTx, result: PayoutResult) -> None:
        try:
            self.gateway.broadcast(signed)
        except PERMANENT as exc:
            # Not final yet: an earlier copy may still be in some pool; wait for expiry.
            self.store.tx_rejected(signed.txid, str(exc))
            log.warning("withdrawal %d: tx %s refused: %s", wid, signed.txid, exc)
            return
        except TronError as exc:  # unavailable, busy, bandwidth, expired: retry next pass
            log.warning("withdrawal %d: broadcast of %s failed: %s", wid, signed.txid, exc)
            return
        self.store.tx_broadcast(signed.txid)
        result.broadcast.append((wid, signed.txid))
        crash_point("after_broadcast")

    # ledger outcomes

    def _mark_paid(self, payout: Payout, txid: str, result: PayoutResult) -> None:
        wid = payout.id
        crash_point("before_mark_paid")
        try:
            self.treasury.mark_paid(wid, txid)
        except LedgerRejected as exc:
            if exc.reason != NOT_PENDING:
                raise
            self._adopt(wid)  # closed meanwhile by someone else: the ledger's outcome stands
            return
        crash_point("after_mark_paid")
        self.store.close_payout(payout, PayoutStatus.PAID, paid_txid=txid)
        result.paid.append((wid, txid))
        log.info("withdrawal %d paid by %s", wid, txid)

    def _fail(self, payout: Payout, reason: str, result: PayoutResult) -> None:
        wid = payout.id
        try:
            self.treasury.mark_failed(wid, reason)
        except LedgerRejected as exc:
            if exc.reason != NOT_PENDING:
                raise
            self._adopt(wid)
            return
        self.store.close_payout(payout, PayoutStatus.FAILED, reason=reason)
        result.failed.append((wid, reason))
        log.warning("withdrawal %d failed: %s", wid, reason)

    def _sync_closed(self, pending_ids: set[int]) -> None:
        """Open local payouts the ledger already closed (a crash after marking): catch up."""
        for p in self.store.payouts(PayoutStatus.OPEN):
            if p.withdrawal_id not in pending_ids:
                self._adopt(p.withdrawal_id)

    def _adopt(self, withdrawal_id: int) -> None:
        """Close the local payout as the ledger closed the withdrawal, if it did."""
        found = self.treasury.payout(withdrawal_id)
        if found is None:
            return  # not this ledger's (a database of another ledger): nothing to take
        w, payout = found.withdrawal, from_ledger(found)
        status = withdrawal_status_from_pb(w.status)
        if status is WithdrawalStatus.PAID:
            self.store.close_payout(payout, PayoutStatus.PAID, paid_txid=w.txid)
        elif status is WithdrawalStatus.FAILED:
            self.store.close_payout(payout, PayoutStatus.FAILED, reason=w.failure_reason)
        else:
            return
        log.info("withdrawal %d was closed on the ledger: %s", withdrawal_id, w.status)
