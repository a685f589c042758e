"""Synchronous gRPC clients: the bridge's Treasury calls and a user's withdrawal request."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from bridge.tron import SignedTx
from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from core.envelopes import sign
from core.rejections import reason_of

RPC_TIMEOUT = 10.0


class LedgerError(Exception):
    """The ledger refused (with a stable `reason`) or could not be reached (`reason` None)."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


def _wrap(call: str, target: str, exc: grpc.RpcError) -> LedgerError:
    code = exc.code() if hasattr(exc, "code") else None  # type: ignore[attr-defined]
    reason = reason_of(exc)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not reason:
        return LedgerError(f"ledger unreachable at {target} ({call})")
    details = exc.details() if hasattr(exc, "details") else str(exc)  # type: ignore[attr-defined]
    return LedgerError(f"ledger refused {call}: {reason or code}: {details}", reason)


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


@dataclass(frozen=True, slots=True)
class RecordedTx:
    """A signed payout tx as the ledger records it."""

    txid: str
    seq: int
    signed: SignedTx
    recorded_at: int  # unix seconds, ledger clock

    @property
    def expiration(self) -> int:
        return self.signed.expiration


@dataclass(frozen=True, slots=True)
class Payout:
    """A withdrawal and every payout tx recorded for it, in the order signed."""

    withdrawal: pb.Withdrawal
    txs: tuple[RecordedTx, ...]

    @property
    def id(self) -> int:
        return int(self.withdrawal.withdrawal_id)

    def tx(self, txid: str) -> RecordedTx:
        return next(t for t in self.txs if t.txid == txid)


def _payout(msg: pb.Payout) -> Payout:
    txs = []
    for r in msg.txs:
        signed = SignedTx.from_bytes(r.signed_tx)
        if signed.txid != r.txid:
            raise LedgerError(f"ledger's payout record {r.txid} does not hold that tx")
        txs.append(RecordedTx(r.txid, r.seq, signed, r.recorded_at))
    return Payout(msg.withdrawal, tuple(txs))


@dataclass(frozen=True, slots=True)
class Lease:
    granted: bool
    holder: str  # the current holder ("" when free)
    expires_at: int  # unix seconds, ledger clock


class TreasuryClient:
    def __init__(self, target: str, token: str) -> None:
        self.target = target
        self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.TreasuryStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)

    def __repr__(self) -> str:
        return f"TreasuryClient(target={self.target!r})"

    def close(self) -> None:
        self._channel.close()

    def _call(self, name: str, request: object) -> object:
        try:
            return getattr(self._stub, name)(request, metadata=self._metadata, timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            raise _wrap(name, self.target, exc) from None

    def credit_deposit(
        self, txid: str, index: int, account: str, amount: int, tron_from: str
    ) -> bool:
        """True when newly credited; False when this (txid, index) was credited before."""
        reply = self._call(
            "CreditDeposit",
            pb.CreditDepositRequest(
                txid=txid, contract_index=index, account=account, amount=amount, tron_from=tron_from
            ),
        )
        return bool(reply.newly_credited)  # type: ignore[attr-defined]

    def withdrawals(self, status: str = "pending") -> list[pb.Withdrawal]:
        out: list[pb.Withdrawal] = []
        after = 0
        while True:
            reply = self._call(
                "ListWithdrawals",
                pb.ListWithdrawalsRequest(status=status, limit=500, after_id=after),
            )
            page = list(reply.withdrawals)  # type: ignore[attr-defined]
            out.extend(page)
            if len(page) < 500:
                return out
            after = page[-1].withdrawal_id

    def withdrawal(self, withdrawal_id: int) -> pb.Withdrawal | None:
        reply = self._call(
            "ListWithdrawals", pb.ListWithdrawalsRequest(limit=1, after_id=withdrawal_id - 1)
        )
        page = list(reply.withdrawals)  # type: ignore[attr-defined]
        return page[0] if page and page[0].withdrawal_id == withdrawal_id else None

    def payouts(self, status: str = "pending") -> list[Payout]:
        out: list[Payout] = []
        after = 0
        while True:
            reply = self._call(
                "ListPayouts", pb.ListWithdrawalsRequest(status=status, limit=500, after_id=after)
            )
            page = list(reply.payouts)  # type: ignore[attr-defined]
            out.extend(_payout(p) for p in page)
            if len(page) < 500:
                return out
            after = page[-1].withdrawal.withdrawal_id

    def payout(self, withdrawal_id: int) -> Payout | None:
        reply = self._call(
            "ListPayouts", pb.ListWithdrawalsRequest(limit=1, after_id=withdrawal_id - 1)
        )
        page = list(reply.payouts)  # type: ignore[attr-defined]
        if page and page[0].withdrawal.withdrawal_id == withdrawal_id:
            return _payout(page[0])
        return None

    def record_payout_tx(
        self, withdrawal_id: int, holder: str, replaces_txid: str, signed: SignedTx
    ) -> Payout:
        """Record a signed payout tx before its first broadcast (the lease holder only)."""
        reply = self._call(
            "RecordPayoutTx",
            pb.RecordPayoutTxRequest(
                withdrawal_id=withdrawal_id,
                holder=holder,
                replaces_txid=replaces_txid,
                txid=signed.txid,
                expiration_ms=signed.expiration,
                signed_tx=signed.to_bytes(),
            ),
        )
        return _payout(reply.payout)  # type: ignore[attr-defined]

    def acquire_lease(self, holder: str, ttl_seconds: int) -> Lease:
        r = self._call(
            "AcquireLease", pb.AcquireLeaseRequest(holder=holder, ttl_seconds=ttl_seconds)
        )
        return Lease(bool(r.granted), str(r.holder), int(r.expires_at))  # type: ignore[attr-defined]

    def release_lease(self, holder: str) -> None:
        self._call("ReleaseLease", pb.ReleaseLeaseRequest(holder=holder))

    def mark_paid(self, withdrawal_id: int, txid: str) -> None:
        self._call(
            "MarkWithdrawalPaid",
            pb.MarkWithdrawalPaidRequest(withdrawal_id=withdrawal_id, txid=txid),
        )

    def mark_failed(self, withdrawal_id: int, reason: str) -> None:
        self._call(
            "MarkWithdrawalFailed",
            pb.MarkWithdrawalFailedRequest(withdrawal_id=withdrawal_id, reason=reason),
        )

    def audit(self) -> Audit:
        r = self._call("Audit", pb.AuditRequest())
        return Audit(
            account_balances=int(r.account_balances),  # type: ignore[attr-defined]
            channel_escrow=int(r.channel_escrow),  # type: ignore[attr-defined]
            pending_withdrawals=int(r.pending_withdrawals),  # type: ignore[attr-defined]
            deposits_credited=int(r.deposits_credited),  # type: ignore[attr-defined]
            withdrawals_paid=int(r.withdrawals_paid),  # type: ignore[attr-defined]
            balanced=bool(r.balanced),  # type: ignore[attr-defined]
        )


class LedgerUserClient:
    """What a user needs for the bridge: ledger id, balance, nonce, withdrawal requests."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.LedgerStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, name: str, request: object) -> object:
        try:
            return getattr(self._stub, name)(request, timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            raise _wrap(name, self.target, exc) from None

    def ledger_id(self) -> str:
        return str(self._call("GetInfo", pb.GetInfoRequest()).ledger_id)  # type: ignore[attr-defined]

    def account(self, account: str) -> tuple[int, int]:
        """(balance, nonce); (0, 0) for an account the ledger has never seen."""
        try:
            reply = self._call("GetAccount", pb.GetAccountRequest(account=account))
        except LedgerError as exc:
            if exc.reason == "UNKNOWN_ACCOUNT":
                return 0, 0
            raise
        return int(reply.balance), int(reply.nonce)  # type: ignore[attr-defined]

    def request_withdrawal(self, key: SigningKey, tron_address: str, amount: int) -> pb.Withdrawal:
        ledger_id = self.ledger_id()
        _, nonce = self.account(key.address)
        payload = pb.WithdrawalPayload(
            account=key.address, tron_address=tron_address, amount=amount, nonce=nonce + 1
        )
        reply = self._call(
            "RequestWithdrawal",
            pb.RequestWithdrawalRequest(withdrawal=sign(key, ledger_id, payload)),
        )
        return reply.withdrawal  # type: ignore[attr-defined]
