"""Typed client of the ledger's Treasury service (the bridge's), beside `ledger_client`.

Authenticated by a bearer token in the `authorization` metadata. Every Treasury call is keyed
(a deposit's txid and index, a withdrawal id, a payout txid, a lease holder), and the ledger
answers a repeat with the first outcome or a precise refusal, so each call is retried on
UNAVAILABLE or DEADLINE_EXCEEDED with backoff, a bounded number of times. The errors are
`ledger_client`'s: `LedgerUnavailable`, `LedgerRejected` (with the ledger's stable reason).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_async import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    DEFAULT_TIMEOUT,
    READ_ATTEMPTS,
    channel_credentials,
)
from client_sdk.ledger_errors import _error
from core.status import WithdrawalStatus

T = TypeVar("T")
PAGE = 500
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


@dataclass(frozen=True, slots=True)
class RecordedTx:
    """A signed payout tx as the ledger records it."""

    txid: str
    seq: int  # 0 for a withdrawal's first tx, +1 per replacement
    expiration_ms: int
    signed_tx: bytes  # the serialized, signed TRON Transaction
    recorded_at: int  # unix seconds, ledger clock


@dataclass(frozen=True, slots=True)
class Payout:
    """A withdrawal and every payout tx recorded for it, in the order signed."""

    withdrawal: pb.Withdrawal
    txs: tuple[RecordedTx, ...]


@dataclass(frozen=True, slots=True)
class Lease:
    granted: bool
    holder: str  # the current holder ("" when free)
    expires_at: int  # unix seconds, ledger clock


def _payout(msg: pb.Payout) -> Payout:
    txs = tuple(
        RecordedTx(r.txid, r.seq, r.expiration_ms, bytes(r.signed_tx), r.recorded_at)
        for r in msg.txs
    )
    return Payout(msg.withdrawal, txs)


class TreasuryClient:
    def __init__(
        self,
        target: str,
        token: str,
        *,
        ca_cert: str | Path | None = None,
        client_cert: tuple[str | Path, str | Path] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = READ_ATTEMPTS,
    ) -> None:
        """`ca_cert`: TLS, trusting that CA; `client_cert`: (certificate, key) files presented to
        a Treasury that asks for client certificates."""
        self.target = target
        self.timeout = timeout
        self.attempts = max(1, attempts)
        creds = channel_credentials(ca_cert)
        if client_cert is not None:
            if ca_cert is None:
                raise ValueError("a client certificate needs a CA certificate")
            cert, key = client_cert
            creds = grpc.ssl_channel_credentials(
                root_certificates=Path(ca_cert).read_bytes(),
                private_key=Path(key).read_bytes(),
                certificate_chain=Path(cert).read_bytes(),
            )
        self._channel = (
            grpc.secure_channel(target, creds) if creds else grpc.insecure_channel(target)
        )
        self._stub = pb_grpc.TreasuryStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)

    def __repr__(self) -> str:
        return f"TreasuryClient(target={self.target!r})"

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> TreasuryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., T], request: object) -> T:
        delay = BACKOFF_BASE
        for attempt in range(self.attempts):
            try:
                return method(request, metadata=self._metadata, timeout=self.timeout)
            except grpc.RpcError as exc:
                if exc.code() not in _RETRYABLE or attempt + 1 == self.attempts:  # type: ignore[attr-defined]
                    raise _error(exc) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_CAP)
        raise AssertionError("unreachable")

    # deposits

    def credit_deposit(
        self, txid: str, index: int, account: str, amount: int, tron_from: str
    ) -> bool:
        """True when newly credited; False when this (txid, index) was credited before."""
        request = pb.CreditDepositRequest(
            txid=txid, contract_index=index, account=account, amount=amount, tron_from=tron_from
        )
        return bool(self._call(self._stub.CreditDeposit, request).newly_credited)

    # withdrawals and their payouts

    def withdrawals(self, status: WithdrawalStatus | None = None) -> list[pb.Withdrawal]:
        found: list[pb.Withdrawal] = []
        after = 0
        while True:
            request = pb.ListWithdrawalsRequest(
                status=WithdrawalStatus(status).value if status else "", limit=PAGE, after_id=after
            )
            page = list(self._call(self._stub.ListWithdrawals, request).withdrawals)
            found.extend(page)
            if len(page) < PAGE:
                return found
            after = page[-1].withdrawal_id

    def withdrawal(self, withdrawal_id: int) -> pb.Withdrawal | None:
        request = pb.ListWithdrawalsRequest(limit=1, after_id=withdrawal_id - 1)
        page = list(self._call(self._stub.ListWithdrawals, request).withdrawals)
        return page[0] if page and page[0].withdrawal_id == withdrawal_id else None

    def payouts(self, status: WithdrawalStatus | None = None) -> list[Payout]:
        found: list[Payout] = []
        after = 0
        while True:
            request = pb.ListWithdrawalsRequest(
                status=WithdrawalStatus(status).value if status else "", limit=PAGE, after_id=after
            )
            page = list(self._call(self._stub.ListPayouts, request).payouts)
            found.extend(_payout(p) for p in page)
            if len(page) < PAGE:
                return found
            after = page[-1].withdrawal.withdrawal_id

    def payout(self, withdrawal_id: int) -> Payout | None:
        request = pb.ListWithdrawalsRequest(limit=1, after_id=withdrawal_id - 1)
        page = list(self._call(self._stub.ListPayouts, request).payouts)
        if page and page[0].withdrawal.withdrawal_id == withdrawal_id:
            return _payout(page[0])
        return None

    def record_payout_tx(
        self,
        withdrawal_id: int,
        *,
        holder: str,
        replaces_txid: str,
        txid: str,
        expiration_ms: int,
        signed_tx: bytes,
    ) -> Payout:
        """Record a signed payout tx before its first broadcast (the lease holder only)."""
        request = pb.RecordPayoutTxRequest(
            withdrawal_id=withdrawal_id,
            holder=holder,
            replaces_txid=replaces_txid,
            txid=txid,
            expiration_ms=expiration_ms,
            signed_tx=signed_tx,
        )
        return _payout(self._call(self._stub.RecordPayoutTx, request).payout)

    def mark_paid(self, withdrawal_id: int, txid: str) -> pb.Withdrawal:
        request = pb.MarkWithdrawalPaidRequest(withdrawal_id=withdrawal_id, txid=txid)
        return self._call(self._stub.MarkWithdrawalPaid, request).withdrawal

    def mark_failed(self, withdrawal_id: int, reason: str) -> pb.Withdrawal:
        request = pb.MarkWithdrawalFailedRequest(withdrawal_id=withdrawal_id, reason=reason)
        return self._call(self._stub.MarkWithdrawalFailed, request).withdrawal

    # the one-bridge lease

    def acquire_lease(self, holder: str, ttl_seconds: int) -> Lease:
        request = pb.AcquireLeaseRequest(holder=holder, ttl_seconds=ttl_seconds)
        r = self._call(self._stub.AcquireLease, request)
        return Lease(r.granted, r.holder, r.expires_at)

    def release_lease(self, holder: str) -> None:
        self._call(self._stub.ReleaseLease, pb.ReleaseLeaseRequest(holder=holder))

    def audit(self) -> pb.AuditResponse:
        return self._call(self._stub.Audit, pb.AuditRequest())
