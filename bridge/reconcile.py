"""Reconciliation: the bridge address's solidified token balance against the ledger's liabilities.

    chain balance == balances + escrow + pending withdrawals      (the ledger's liabilities)
                     - paid on chain, not yet marked paid          (chain already paid them)
                     + suspense deposits                           (on chain, in no account)
                     + solidified deposits not yet scanned         (the watcher is behind)

Any other difference is a real discrepancy. The snapshot is taken at one solid head and
retaken if the head moves while it is read.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.schema import DepositStatus, PayoutStatus
from bridge.store import BridgeStore
from bridge.tron import TronGateway, TxStatus
from bridge.watcher import is_deposit
from btt.ledger.v1 import ledger_pb2 as pb


@dataclass(frozen=True, slots=True)
class Audit:
    account_balances: int
    channel_escrow: int
    pending_withdrawals: int
    deposits_credited: int
    withdrawals_paid: int
    balanced: bool

    @property
    def liabilities(self) -> int:
        return self.account_balances + self.channel_escrow + self.pending_withdrawals

    @classmethod
    def from_pb(cls, r: pb.AuditResponse) -> Audit:
        return cls(
            r.account_balances,
            r.channel_escrow,
            r.pending_withdrawals,
            r.deposits_credited,
            r.withdrawals_paid,
            r.balanced,
        )


class InFlightKind(enum.StrEnum):
    PAID_UNMARKED = "paid_unmarked"  # paid on chain, not yet marked paid on the ledger
    SUSPENSE = "suspense"  # on chain, in no account
    UNSCANNED = "unscanned"  # solidified deposits the watcher has not reached


@dataclass(frozen=True, slots=True)
class InFlight:
    kind: InFlightKind
    reference: str
    amount: int


@dataclass
class Reconciliation:
    solid_block: int
    chain_balance: int
    audit: Audit
    in_flight: list[InFlight] = field(default_factory=list)

    def total(self, kind: InFlightKind) -> int:
        return sum(i.amount for i in self.in_flight if i.kind == kind)

    @property
    def expected(self) -> int:
        return (
            self.audit.liabilities
            - self.total(InFlightKind.PAID_UNMARKED)
            + self.total(InFlightKind.SUSPENSE)
            + self.total(InFlightKind.UNSCANNED)
        )

    @property
    def difference(self) -> int:
        """Chain minus expected: positive = unexplained surplus on chain, negative = shortfall."""
        return self.chain_balance - self.expected

    @property
    def ok(self) -> bool:
        return self.difference == 0 and self.audit.balanced

    def as_dict(self) -> dict[str, object]:
        a = self.audit
        return {
            "ok": self.ok,
            "solid_block": self.solid_block,
            "chain_balance": self.chain_balance,
            "ledger": {
                "account_balances": a.account_balances,
                "channel_escrow": a.channel_escrow,
                "pending_withdrawals": a.pending_withdrawals,
                "liabilities": a.liabilities,
                "deposits_credited": a.deposits_credited,
                "withdrawals_paid": a.withdrawals_paid,
                "balanced": a.balanced,
            },
            "in_flight": [
                {"kind": i.kind, "reference": i.reference, "amount": i.amount}
                for i in self.in_flight
            ],
            "expected": self.expected,
            "difference": self.difference,
        }


def reconcile(
    gateway: TronGateway,
    audit: Callable[[], pb.AuditResponse],
    store: BridgeStore,
    *,
    bridge_address: str,
    token_id: str,
    start_block: int | None = None,
    attempts: int = 3,
) -> Reconciliation:
    """`audit`: the ledger's Audit call (public, or the Treasury's); `start_block`: where the
    watcher will start when it has not run yet."""
    for _ in range(attempts):
        result = _snapshot(gateway, audit, store, bridge_address, token_id, start_block)
        if gateway.solid_head().number == result.solid_block:
            return result
    return result


def _snapshot(
    gateway: TronGateway,
    audit: Callable[[], pb.AuditResponse],
    store: BridgeStore,
    bridge_address: str,
    token_id: str,
    start_block: int | None,
) -> Reconciliation:
    solid = gateway.solid_head().number
    books = Audit.from_pb(audit())
    chain = gateway.token_balance(bridge_address, token_id, solid=True)
    items: list[InFlight] = []
    for p in store.payouts(PayoutStatus.OPEN):
        for tx in store.txs(p.withdrawal_id):
            if gateway.get_solid_tx_status(tx.txid)[0] is TxStatus.SUCCESS:
                reference = f"withdrawal {p.withdrawal_id} {tx.txid}"
                items.append(InFlight(InFlightKind.PAID_UNMARKED, reference, p.amount))
    for d in store.deposits(DepositStatus.SUSPENSE):
        reference = f"{d.txid}:{d.contract_index} from {d.tron_from}"
        items.append(InFlight(InFlightKind.SUSPENSE, reference, d.amount))
    cursor = store.cursor()
    cursor = start_block if cursor is None else cursor
    if cursor is not None and cursor <= solid:
        for t in gateway.iter_solid_blocks(cursor, solid):
            if (
                is_deposit(t, bridge_address, token_id)
                and store.deposit(t.txid, t.contract_index) is None
            ):
                reference = f"{t.txid}:{t.contract_index}"
                items.append(InFlight(InFlightKind.UNSCANNED, reference, t.amount))
    return Reconciliation(solid, chain, books, items)
