"""Deposit watcher: scan solidified blocks from a persisted cursor and credit each deposit once.

Which account a deposit goes to:
1. a memo `btt:<ledger address>` names it. The memo wins over a binding: it is the sender's
   explicit instruction for this one transfer, signed with the tx, and shared sending addresses
   (exchanges) can only route by memo;
2. else the sender's bound account (`btt-bridge bind`);
3. else the deposit waits in suspense, visible in `btt-bridge status`, until its sender binds.
A memo that starts with `btt:` but names no valid address goes to suspense too: the sender
meant something we cannot read, so guessing (even the binding) could be wrong.

Exactly once: the ledger's CreditDeposit is idempotent by (txid, contract index), the local row
records the outcome, and the cursor moves only after a whole range is done. A crash between a
credit and the cursor save just rescans that range; repeats change nothing (and are not reported
as credited: the ledger says whether a credit is new).

The same scan notes every transfer of the token from the bridge address whose memo names a
withdrawal: the payout worker never signs for a withdrawal that such a transfer already serves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridge.crash import crash_point
from bridge.decide import withdrawal_of_memo
from bridge.schema import DepositStatus
from bridge.store import BridgeStore
from bridge.tron import TokenTransfer, TronGateway
from client_sdk.ledger_client import LedgerRejected
from client_sdk.treasury_client import TreasuryClient
from core.crypto import is_address
from core.memo import MEMO_PREFIX

log = logging.getLogger("bridge.watcher")


@dataclass
class ScanResult:
    scanned_to: int | None = None  # last block scanned (inclusive)
    credited: list[tuple[str, int, str, int]] = field(default_factory=list)
    already: list[tuple[str, int]] = field(default_factory=list)  # credited by an earlier pass
    suspense: list[tuple[str, int, str]] = field(default_factory=list)


def route(memo: bytes, sender: str, store: BridgeStore) -> tuple[str | None, str]:
    """(account, reason): the account to credit, or None and why it waits in suspense."""
    if memo.startswith(MEMO_PREFIX):
        named = memo[len(MEMO_PREFIX) :].decode("utf-8", "replace").strip()
        if is_address(named):
            return named, ""
        return None, f"memo names no ledger account: {named[:80]!r}"
    binding = store.binding(sender)
    if binding is not None:
        return binding.account, ""
    return None, "sender not bound and no btt:<account> memo"


def is_deposit(t: TokenTransfer, bridge_address: str, token_id: str) -> bool:
    """Only successful transfers of the configured token to the bridge address count."""
    return t.success and t.to == bridge_address and t.token_id == token_id and t.amount > 0


class DepositWatcher:
    def __init__(
        self,
        gateway: TronGateway,
        treasury: TreasuryClient,
        store: BridgeStore,
        *,
        bridge_address: str,
        token_id: str,
        start_block: int | None = None,
        batch: int = 1000,
    ) -> None:
        self.gateway, self.treasury, self.store = gateway, treasury, store
        self.bridge_address, self.token_id = bridge_address, token_id
        self.start_block, self.batch = start_block, max(1, batch)

    def _cursor(self) -> int:
        cursor = self.store.cursor()
        if cursor is None:
            cursor = (
                self.start_block
                if self.start_block is not None
                else self.gateway.solid_head().number + 1
            )
            self.store.set_cursor(cursor)
        return cursor

    def scan(self) -> ScanResult:
        """Credit everything up to the current solid head (in batches), then suspense retries."""
        result = ScanResult()
        solid = self.gateway.solid_head().number
        cursor = self._cursor()
        while cursor <= solid:
            end = min(solid, cursor + self.batch - 1)
            for t in self.gateway.iter_solid_blocks(cursor, end):
                if is_deposit(t, self.bridge_address, self.token_id):
                    self._handle(t, result)
                elif t.owner == self.bridge_address and t.token_id == self.token_id:
                    self._note_payout(t)
            self.store.set_cursor(end + 1)
            result.scanned_to = end
            cursor = end + 1
        self._retry_suspense(result)
        return result

    def _note_payout(self, t: TokenTransfer) -> None:
        wid = withdrawal_of_memo(t.memo)
        if wid is None:
            return
        self.store.record_chain_payout(
            t.txid,
            t.contract_index,
            withdrawal_id=wid,
            block_number=t.block_number,
            to_address=t.to,
            amount=t.amount,
            success=t.success,
        )

    def _handle(self, t: TokenTransfer, result: ScanResult) -> None:
        known = self.store.deposit(t.txid, t.contract_index)
        if known is not None and known.status is DepositStatus.CREDITED:
            return  # a rescan after a crash: already done
        account, reason = route(t.memo, t.owner, self.store)
        self._settle(
            t.txid, t.contract_index, t.block_number, t.owner, t.amount, account, reason, result
        )

    def _settle(
        self,
        txid: str,
        index: int,
        block: int,
        sender: str,
        amount: int,
        account: str | None,
        reason: str,
        result: ScanResult,
    ) -> None:
        if account is not None:
            try:
                new = self.treasury.credit_deposit(txid, index, account, amount, sender)
            except LedgerRejected as exc:  # unreachable (LedgerUnavailable): the next pass
                account, reason = None, f"ledger refused: {exc}"
            else:
                crash_point("after_credit")
                self.store.record_deposit(
                    txid,
                    index,
                    block_number=block,
                    tron_from=sender,
                    amount=amount,
                    account=account,
                    status=DepositStatus.CREDITED,
                )
                if new:
                    result.credited.append((txid, index, account, amount))
                    log.info("deposit %s:%d credited %d to %s", txid, index, amount, account)
                else:
                    result.already.append((txid, index))
                    log.info("deposit %s:%d was credited before", txid, index)
                return
        self.store.record_deposit(
            txid,
            index,
            block_number=block,
            tron_from=sender,
            amount=amount,
            account=None,
            status=DepositStatus.SUSPENSE,
            reason=reason,
        )
        result.suspense.append((txid, index, reason))
        log.warning("deposit %s:%d in suspense: %s", txid, index, reason)

    def _retry_suspense(self, result: ScanResult) -> None:
        """A suspense deposit whose sender has since bound an address is credited now."""
        for d in self.store.deposits(DepositStatus.SUSPENSE):
            if d.reason.startswith("memo"):
                continue  # an unreadable memo needs an operator, not a binding
            binding = self.store.binding(d.tron_from)
            if binding is None:
                continue
            self._settle(
                d.txid,
                d.contract_index,
                d.block_number,
                d.tron_from,
                d.amount,
                binding.account,
                "",
                result,
            )
