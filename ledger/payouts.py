"""The bridge's lease and payout records: pure decisions, no I/O.

The ledger is the record of every signed payout transaction, so exactly-once payment never rests
on the bridge's own database. Two rules keep it so:
- one active bridge per ledger: a lease with an expiry, renewed by its holder every pass;
- a payout tx is recorded before its first broadcast, only by the lease holder, and a withdrawal
  gains a new tx only as the replacement of its latest one (compare-and-set), so two bridges
  racing to replace the same expired tx cannot both sign one that lands.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.rejections import Rejected, Rejection
from core.types import Timestamp

MAX_LEASE_SECONDS = 3600
MAX_HOLDER_CHARS = 64
MAX_SIGNED_TX_BYTES = 4096
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str  # "" when nobody holds it
    expires_at: Timestamp

    def held_by(self, holder: str, now: Timestamp) -> bool:
        return bool(self.holder) and self.holder == holder and now < self.expires_at


FREE = Lease("", Timestamp(0))


@dataclass(frozen=True, slots=True)
class PayoutTx:
    withdrawal_id: int
    txid: str
    seq: int
    expiration_ms: int
    signed_tx: bytes
    recorded_at: Timestamp


def check_holder(holder: str) -> str:
    if not 0 < len(holder) <= MAX_HOLDER_CHARS or not holder.isprintable():
        raise Rejected(
            Rejection.MALFORMED, f"holder must be 1..{MAX_HOLDER_CHARS} printable characters"
        )
    return holder


def check_txid(txid: str, field: str = "txid") -> str:
    lowered = txid.lower()
    if len(lowered) != 64 or not set(lowered) <= _HEX:
        raise Rejected(Rejection.MALFORMED, f"{field} must be 64 hex characters")
    return lowered


def acquire(current: Lease, holder: str, ttl_seconds: int, now: Timestamp) -> Lease | None:
    """The lease after `holder` asks for it, or None when another holder's lease is live."""
    check_holder(holder)
    if not 0 < ttl_seconds <= MAX_LEASE_SECONDS:
        raise Rejected(Rejection.MALFORMED, f"ttl_seconds must be 1..{MAX_LEASE_SECONDS}")
    if current.holder and current.holder != holder and now < current.expires_at:
        return None
    return Lease(holder, Timestamp(now + ttl_seconds))


def release(current: Lease, holder: str) -> Lease:
    """Free the lease if `holder` holds it; anyone else's release changes nothing."""
    check_holder(holder)
    return FREE if current.holder == holder else current


def record(
    recorded: list[PayoutTx],
    lease: Lease,
    *,
    withdrawal_id: int,
    holder: str,
    replaces_txid: str,
    txid: str,
    expiration_ms: int,
    signed_tx: bytes,
    now: Timestamp,
) -> PayoutTx | None:
    """The new record for a pending withdrawal's payout tx, or None when `txid` is recorded.

    `recorded` holds the withdrawal's txs in seq order. A repeat of an already recorded txid is
    answered as done (the reply of the first attempt may have been lost).
    """
    txid = check_txid(txid)
    replaces = check_txid(replaces_txid, "replaces_txid") if replaces_txid else ""
    if expiration_ms <= 0:
        raise Rejected(Rejection.MALFORMED, "expiration_ms must be positive")
    if not 0 < len(signed_tx) <= MAX_SIGNED_TX_BYTES:
        raise Rejected(Rejection.MALFORMED, f"signed_tx must be 1..{MAX_SIGNED_TX_BYTES} bytes")
    if any(r.txid == txid for r in recorded):
        return None
    if not lease.held_by(check_holder(holder), now):
        raise Rejected(
            Rejection.LEASE_NOT_HELD,
            f"{holder!r} does not hold the bridge lease (held by {lease.holder or 'nobody'})",
        )
    latest = recorded[-1].txid if recorded else ""
    if replaces != latest:
        raise Rejected(
            Rejection.PAYOUT_CONFLICT,
            f"withdrawal {withdrawal_id}'s latest payout tx is {latest or 'none'}, "
            f"not {replaces or 'none'}",
        )
    return PayoutTx(withdrawal_id, txid, len(recorded), expiration_ms, signed_tx, now)
