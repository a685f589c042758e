"""Withdrawal worker: pay each pending ledger withdrawal on chain exactly once.

Per withdrawal, in order, each step durable before the next:
1. check limits (over the per-withdrawal limit: marked failed at once, it can never pass; over
   the daily limit: held, it stays pending on the ledger and is paid on a later UTC day);
2. build and sign a TransferAssetContract and persist the signed bytes and txid;
3. broadcast those same bytes, again on every pass while the tx is unknown to the node and can
   still be included (the node answers DUP when it has it);
4. only when a solidified block is at or past the tx's expiration and the txid is in no block
   can it never land: then build a replacement (or, if the node refused it permanently, mark
   the withdrawal failed and the money returns);
5. a solidified SUCCESS receipt marks it paid; a solidified FAILED receipt marks it failed.
Every tx ever signed for a withdrawal is checked each pass, so a crash between any two steps
never pays twice and never forgets one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bridge.crash import crash_point
from bridge.store import BridgeStore, PayoutTx, utc_day
from bridge.treasury import LedgerError, TreasuryClient
from bridge.tron import (
    ContractRejected,
    NodeRejected,
    SignatureRejected,
    SignedTx,
    TransactionTooBig,
    TronError,
    TronGateway,
    TxStatus,
)
from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SigningKey, is_address

log = logging.getLogger("bridge.payout")

# Refusals that the same bytes can never overcome. Bandwidth is missing from this list on
# purpose: it is the operator's TRX to top up, not the user's fault.
PERMANENT = (ContractRejected, SignatureRejected, TransactionTooBig, NodeRejected)


@dataclass(frozen=True, slots=True)
class Limits:
    max_withdrawal: int = 0  # 0 = none
    daily_limit: int = 0


@dataclass
class PayoutResult:
    broadcast: list[tuple[int, str]] = field(default_factory=list)
    paid: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    held: list[tuple[int, str]] = field(default_factory=list)
    replaced: list[tuple[int, str]] = field(default_factory=list)


class PayoutWorker:
    def __init__(
        self,
        gateway: TronGateway,
        treasury: TreasuryClient,
        store: BridgeStore,
        key: SigningKey,
        *,
        token_id: str,
        limits: Limits = Limits(),
        tx_lifetime_ms: int = 60_000,
    ) -> None:
        self.gateway, self.treasury, self.store = gateway, treasury, store
        self._key = key
        self.token_id, self.limits, self.lifetime = token_id, limits, tx_lifetime_ms

    def __repr__(self) -> str:
        return f"PayoutWorker(address={self._key.address}, token_id={self.token_id})"

    def run_once(self) -> PayoutResult:
        result = PayoutResult()
        pending = self.treasury.withdrawals("pending")
        pending_ids = {w.withdrawal_id for w in pending}
        for w in pending:
            try:
                self._advance(w, result)
            except TronError as exc:
                if not exc.retryable:
                    raise
                log.warning("withdrawal %d: node unavailable, retry next pass", w.withdrawal_id)
        self._sync_closed(pending_ids)
        return result

    # one withdrawal

    def _advance(self, w: pb.Withdrawal, result: PayoutResult) -> None:
        wid = w.withdrawal_id
        payout = self.store.payout(wid)
        if payout is not None and payout.status == "failed":
            self._fail(w, payout.reason, result)  # refused before any tx; the ledger missed it
            return
        if payout is not None and payout.status == "paid":
            self._mark_paid(wid, payout.paid_txid or "", result)
            return
        if payout is None:
            refusal = self._refusal(w)
            if refusal is not None:
                self._fail(w, refusal, result, record=True)
                return
            if self._over_daily(w.amount):
                result.held.append((wid, "daily limit reached"))
                return
            self._start(w, result)
        self._check(w, result)

    def _refusal(self, w: pb.Withdrawal) -> str | None:
        if not is_address(w.tron_address):
            return f"not a TRON address: {w.tron_address!r}"
        if self.limits.max_withdrawal and w.amount > self.limits.max_withdrawal:
            return f"over the per-withdrawal limit of {self.limits.max_withdrawal} units"
        return None

    def _over_daily(self, amount: int) -> bool:
        if not self.limits.daily_limit:
            return False
        return self.store.started_today(utc_day(time.time())) + amount > self.limits.daily_limit

    def _sign(self, w: pb.Withdrawal) -> SignedTx:
        tx = self.gateway.build_token_transfer(
            self._key.address,
            w.tron_address,
            w.amount,
            self.token_id,
            memo=f"btt-withdrawal:{w.withdrawal_id}".encode(),
            expiration_ms=self.lifetime,
        )
        return self.gateway.sign(tx, self._key)

    def _start(self, w: pb.Withdrawal, result: PayoutResult) -> None:
        signed = self._sign(w)
        self.store.start_payout(
            w.withdrawal_id,
            w.account,
            w.tron_address,
            w.amount,
            signed.to_json(),
            signed.txid,
            signed.expiration,
        )
        crash_point("after_sign")
        self._broadcast(w.withdrawal_id, signed, result)

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

    def _check(self, w: pb.Withdrawal, result: PayoutResult) -> None:
        wid = w.withdrawal_id
        txs = self.store.txs(wid)
        statuses = [(tx, *self.gateway.get_solid_tx_status(tx.txid)) for tx in txs]
        for tx, status, _block in statuses:
            if status is TxStatus.SUCCESS:
                crash_point("before_mark_paid")
                self._mark_paid(wid, tx.txid, result)
                return
        for tx, status, _block in statuses:
            if status is TxStatus.FAILED:
                self._fail(w, f"payout tx {tx.txid} failed on chain", result)
                return
        latest, status, block = statuses[-1]
        if status is TxStatus.PENDING:
            if block is not None:
                crash_point("after_inclusion")
            return
        self._unknown(w, latest, result)

    def _unknown(self, w: pb.Withdrawal, tx: PayoutTx, result: PayoutResult) -> None:
        """The latest tx is in no block and no pool we can see."""
        wid = w.withdrawal_id
        if self.gateway.solid_head().timestamp < tx.expiration:
            if tx.state == "active":
                self._broadcast(wid, SignedTx.from_json(tx.signed_json), result)
            return
        # A solidified block at or past the expiration: no block can include it any more.
        if tx.state == "rejected":
            self._fail(w, f"payout refused by the node: {tx.reason}", result)
            return
        signed = self._sign(w)
        self.store.replace_tx(wid, tx.txid, signed.to_json(), signed.txid, signed.expiration)
        result.replaced.append((wid, signed.txid))
        log.info("withdrawal %d: tx %s expired unseen, replaced by %s", wid, tx.txid, signed.txid)
        self._broadcast(wid, signed, result)

    # ledger outcomes

    def _mark_paid(self, wid: int, txid: str, result: PayoutResult) -> None:
        try:
            self.treasury.mark_paid(wid, txid)
        except LedgerError as exc:
            if exc.reason != "WITHDRAWAL_NOT_PENDING":
                raise
        crash_point("after_mark_paid")
        self.store.finish_payout(wid, "paid", paid_txid=txid)
        result.paid.append((wid, txid))
        log.info("withdrawal %d paid by %s", wid, txid)

    def _fail(
        self, w: pb.Withdrawal, reason: str, result: PayoutResult, *, record: bool = False
    ) -> None:
        wid = w.withdrawal_id
        if record:
            self.store.record_failed_payout(wid, w.account, w.tron_address, w.amount, reason)
        try:
            self.treasury.mark_failed(wid, reason)
        except LedgerError as exc:
            if exc.reason != "WITHDRAWAL_NOT_PENDING":
                raise
        if not record:
            self.store.finish_payout(wid, "failed", reason=reason)
        result.failed.append((wid, reason))
        log.warning("withdrawal %d failed: %s", wid, reason)

    def _sync_closed(self, pending_ids: set[int]) -> None:
        """Open local payouts the ledger already closed (a crash after marking): catch up."""
        for p in self.store.payouts("open"):
            if p.withdrawal_id in pending_ids:
                continue
            w = self.treasury.withdrawal(p.withdrawal_id)
            if w is None or w.status == "pending":
                continue
            if w.status == "paid":
                self.store.finish_payout(p.withdrawal_id, "paid", paid_txid=w.txid)
            else:
                self.store.finish_payout(p.withdrawal_id, "failed", reason=w.failure_reason)
