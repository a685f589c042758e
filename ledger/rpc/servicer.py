"""Thin gRPC servicers: proto -> domain call -> proto, and rejection -> status code.

The service is synchronous (one DB transaction per call); calls run on a bounded thread pool so
the asyncio loop keeps serving while the database works.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import check_address
from core.envelopes import open_signed, request_digest
from core.logs import in_context
from core.ratelimit import client_address
from core.rejections import (
    DATABASE_UNAVAILABLE,
    OUTCOME_UNKNOWN,
    REASON_METADATA_KEY,
    SLOW_CONSUMER,
    Rejected,
    Rejection,
)
from core.rpc import StatusError, rejection_reason
from core.types import MAX_AMOUNT
from core.wire import channel_status_from_pb
from ledger.batch import BatchWriter, CloseOp, GroupCommit, Op, Outcome, SubmitStateOp, TransferOp
from ledger.domain import Account, Channel
from ledger.faucet import client_key
from ledger.protocol import Refund, StateProof, check_id
from ledger.rpc import convert
from ledger.rpc.errors import exhausted_error, status_error, unavailable_error
from ledger.rpc.subscriptions import EventHub, StreamRefused
from ledger.service import LedgerService
from ledger.storage import deadline
from ledger.storage.errors import CommitOutcomeUnknown, DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[..., Awaitable[Any]]

VERSION = "0.1.0"
REPLAY_PAGE = 500


# When the database work of the current call must be done: the caller's deadline, less a margin
# for the answer to travel back.
_call_deadline: ContextVar[float | None] = ContextVar("call_deadline", default=None)


def _deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    if remaining is None:
        return None
    return time.monotonic() + remaining - min(1.0, 0.2 * remaining)


async def _abort(context: grpc.aio.ServicerContext, err: StatusError) -> None:
    await err.abort(context)


async def abort_rejected(context: grpc.aio.ServicerContext, rejected: Rejected) -> None:
    await _abort(context, status_error(rejected))


def status_of(exc: BaseException) -> StatusError | None:
    """The status a failed write is answered with, saying what is known about its outcome;
    None for what no status explains (answered INTERNAL)."""
    if isinstance(exc, Rejected):
        return status_error(exc)
    if isinstance(exc, DatabaseUnavailable):
        return unavailable_error(
            DATABASE_UNAVAILABLE,
            f"the database is unavailable ({exc}); nothing was committed, send again",
        )
    if isinstance(exc, CommitOutcomeUnknown):
        return unavailable_error(
            OUTCOME_UNKNOWN,
            f"the database connection failed while committing ({exc}); the outcome is "
            "unknown: send the same signed request again to learn it (it takes effect "
            "at most once)",
        )
    return None


def rpc(handler: Handler) -> Handler:
    """Map `Rejected` to its status and database trouble to UNAVAILABLE, saying what is known
    about the request's outcome; never leak a traceback to the caller."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        _call_deadline.set(_deadline_of(context))
        try:
            return await handler(self, request, context)
        except (Rejected, DatabaseUnavailable, CommitOutcomeUnknown) as exc:
            err = status_of(exc)
            assert err is not None
            reason = dict(err.trailing_metadata)[REASON_METADATA_KEY]
            rejection_reason.set(str(reason))
            if not isinstance(exc, Rejected):
                log.warning("%s in %s: %s", reason, handler.__name__, exc)
            await _abort(context, err)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            log.exception("internal error in %s", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return wrapper


class _Base:
    def __init__(self, service: LedgerService, executor: ThreadPoolExecutor) -> None:
        self.service = service
        self.executor = executor
        self.batches = BatchWriter(service)
        # Transfers, checkpoints and payee closes sent one per call share transactions.
        self.group = GroupCommit(self.batches)

    async def write(self, op: Op) -> Any:
        """One operation through group commit; its own answer, or its own error, raised."""
        future = self.group.submit(op, _call_deadline.get())
        outcome = await asyncio.wrap_future(future)
        return outcome.unwrap()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the database pool, its database work bounded by the caller's deadline."""
        until = _call_deadline.get()

        def bounded() -> T:
            log.debug("database call", extra={"call": getattr(fn, "__name__", "?")})
            with deadline.until(until):
                return fn(*args, **kwargs)

        # The work runs with this call's context, so its log lines carry the request id.
        return await asyncio.get_running_loop().run_in_executor(self.executor, in_context(bounded))

    def opened(self, signed: pb.Signed, payload_type: type[Any], field: str) -> Any:
        return open_signed(self.service.ledger_id, signed, payload_type, field)


MAX_REQUEST_ID_BYTES = 32


def _check_request_id(request_id: bytes) -> None:
    if len(request_id) > MAX_REQUEST_ID_BYTES:
        raise Rejected(Rejection.MALFORMED, f"request_id is over {MAX_REQUEST_ID_BYTES} bytes")


MAX_BATCH_OPERATIONS = 1000


def _transfer_response(result: tuple[Account, int]) -> pb.TransferResponse:
    account, entry = result
    return pb.TransferResponse(from_account=convert.account_to_pb(account), entry_id=entry)


def _error_result(exc: BaseException) -> pb.BatchResult:
    result = pb.BatchResult()
    _fill_error(result.error, exc)
    return result


def _fill_error(error: pb.OperationError, exc: BaseException) -> None:
    err = status_of(exc)
    if err is None:
        log.error("internal error in a batch operation: %r", exc)
        error.code = grpc.StatusCode.INTERNAL.value[0]
        error.message = "internal error"
        return
    error.code = err.code.value[0]
    error.reason = str(dict(err.trailing_metadata)[REASON_METADATA_KEY])
    error.message = err.message


def _fill_result(result: pb.BatchResult, outcome: Outcome | pb.BatchResult) -> None:
    if isinstance(outcome, pb.BatchResult):  # refused before it reached the ledger
        result.CopyFrom(outcome)
    elif outcome.error is not None:
        _fill_error(result.error, outcome.error)
    elif isinstance(outcome.value, Channel):
        result.channel.channel.CopyFrom(convert.channel_to_pb(outcome.value))
    else:
        account, entry = outcome.value
        reply = result.transfer
        reply.entry_id = entry
        reply.from_account.id = account.account_id
        reply.from_account.balance = account.balance
        reply.from_account.nonce = account.nonce


def _refund(opened: Any) -> Refund:
    p = opened.payload
    return Refund(bytes(p.channel_id), p.expiry, p.version, opened.proof)


class LedgerServicer(_Base, pb_grpc.LedgerServicer):
    def __init__(self, service: LedgerService, executor: ThreadPoolExecutor, hub: EventHub) -> None:
        super().__init__(service, executor)
        self.hub = hub

    @rpc
    async def GetInfo(self, request: pb.GetInfoRequest, context: Any) -> pb.GetInfoResponse:
        return pb.GetInfoResponse(
            ledger_id=self.service.ledger_id,
            version=VERSION,
            now=self.service.now(),
            challenge_window_seconds=self.service.challenge_window,
            max_amount=MAX_AMOUNT,
            last_event_id=await self.call(self.service.last_event_id),
        )

    @rpc
    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.Account:
        account = await self.call(self.service.get_account, request.account)
        return convert.account_to_pb(account)

    @rpc
    async def Transfer(self, request: pb.TransferRequest, context: Any) -> pb.TransferResponse:
        return _transfer_response(await self.write(self.transfer_op(request)))

    @rpc
    async def OpenChannel(self, request: pb.OpenChannelRequest, context: Any) -> pb.ChannelResponse:
        c = self.opened(request.commitment, pb.OpenChannelPayload, "commitment")
        r = self.opened(request.refund, pb.RefundPayload, "refund")
        p = c.payload
        channel = await self.call(
            self.service.open_channel,
            payer=p.payer,
            payee=p.payee,
            deposit=p.deposit,
            expiry=p.expiry,
            salt=p.salt,
            channel_id=bytes(p.channel_id),
            commitment=c.proof,
            refund=_refund(r),
            request=request_digest("OpenChannel", request),
        )
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def SubmitState(self, request: pb.SubmitStateRequest, context: Any) -> pb.ChannelResponse:
        channel = await self.write(self.submit_state_op(request))
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def CloseChannel(
        self, request: pb.CloseChannelRequest, context: Any
    ) -> pb.ChannelResponse:
        channel = await self.write(self.close_op(request))
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    # ------------------------------------------------------------ batchable operations
    def transfer_op(self, request: pb.TransferRequest) -> TransferOp:
        o = self.opened(request.transfer, pb.TransferPayload, "transfer")
        p = o.payload
        _check_request_id(p.request_id)
        return TransferOp(
            p.from_account,
            p.to_account,
            p.amount,
            p.nonce,
            p.memo,
            o.proof,
            request_digest("Transfer", request),
        )

    def submit_state_op(self, request: pb.SubmitStateRequest) -> SubmitStateOp:
        s = self.opened(request.state, pb.ChannelStatePayload, "state")
        p = s.payload
        return SubmitStateOp(
            bytes(p.channel_id),
            p.nonce,
            p.cumulative,
            s.proof,
            request_digest("SubmitState", request),
        )

    def close_op(self, request: pb.CloseChannelRequest) -> CloseOp:
        close = self.opened(request.close, pb.CloseChannelPayload, "close")
        state = None
        if request.HasField("state") and request.state.payload:
            s = self.opened(request.state, pb.ChannelStatePayload, "state")
            if bytes(s.payload.channel_id) != bytes(close.payload.channel_id):
                raise Rejected(Rejection.PAYLOAD_MISMATCH, "state and close name other channels")
            state = StateProof(s.payload.nonce, s.payload.cumulative, s.proof)
        p = close.payload
        return CloseOp(
            bytes(p.channel_id),
            state,
            p.nonce,
            p.cumulative,
            close.proof,
            request_digest("CloseChannel", request),
        )

    def batch_op(self, operation: pb.BatchOperation) -> Op:
        kind = operation.WhichOneof("op")
        if kind == "transfer":
            return self.transfer_op(operation.transfer)
        if kind == "submit_state":
            return self.submit_state_op(operation.submit_state)
        if kind == "close":
            return self.close_op(operation.close)
        raise Rejected(Rejection.MALFORMED, "operation: none of transfer, submit_state, close")

    @rpc
    async def SubmitBatch(
        self, request: pb.SubmitBatchRequest, context: Any
    ) -> pb.SubmitBatchResponse:
        if len(request.operations) > MAX_BATCH_OPERATIONS:
            raise Rejected(
                Rejection.MALFORMED, f"over {MAX_BATCH_OPERATIONS} operations in one batch"
            )
        results: list[pb.BatchResult | None] = []
        ops: list[Op] = []
        for operation in request.operations:
            try:
                ops.append(self.batch_op(operation))
                results.append(None)
            except Rejected as rejected:
                results.append(_error_result(rejected))
        outcomes = iter(await self.call(self.batches.run, ops, _call_deadline.get()))
        response = pb.SubmitBatchResponse()
        for refused in results:
            # Filled in place: building each reply apart and copying it in costs more.
            _fill_result(response.results.add(), refused or next(outcomes))
        return response

    @rpc
    async def CooperativeClose(
        self, request: pb.CooperativeCloseRequest, context: Any
    ) -> pb.ChannelResponse:
        a = self.opened(request.payer_close, pb.CooperativeClosePayload, "payer_close")
        b = self.opened(request.payee_close, pb.CooperativeClosePayload, "payee_close")
        if request.payer_close.payload != request.payee_close.payload:
            raise Rejected(Rejection.PAYLOAD_MISMATCH, "both parties must sign the same payload")
        p = a.payload
        channel = await self.call(
            self.service.cooperative_close,
            bytes(p.channel_id),
            p.cumulative,
            a.proof,
            b.proof,
            request=request_digest("CooperativeClose", request),
        )
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def RequestClose(
        self, request: pb.RequestCloseRequest, context: Any
    ) -> pb.ChannelResponse:
        o = self.opened(request.request, pb.RequestClosePayload, "request")
        channel = await self.call(
            self.service.request_close,
            bytes(o.payload.channel_id),
            o.proof,
            request=request_digest("RequestClose", request),
        )
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def ClaimRefund(self, request: pb.ClaimRefundRequest, context: Any) -> pb.ChannelResponse:
        claim = self.opened(request.claim, pb.ClaimRefundPayload, "claim")
        refund = self.opened(request.refund, pb.RefundPayload, "refund")
        channel = await self.call(
            self.service.claim_refund,
            bytes(claim.payload.channel_id),
            claim.proof,
            _refund(refund),
            request=request_digest("ClaimRefund", request),
        )
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def TopUp(self, request: pb.TopUpRequest, context: Any) -> pb.ChannelResponse:
        o = self.opened(request.topup, pb.TopUpPayload, "topup")
        refund = None
        if request.HasField("refund") and request.refund.payload:
            refund = _refund(self.opened(request.refund, pb.RefundPayload, "refund"))
        p = o.payload
        channel = await self.call(
            self.service.top_up,
            bytes(p.channel_id),
            p.additional_deposit,
            p.new_expiry,
            p.sequence,
            o.proof,
            refund,
            request=request_digest("TopUp", request),
        )
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def GetChannel(self, request: pb.GetChannelRequest, context: Any) -> pb.ChannelResponse:
        channel = await self.call(self.service.get_channel, bytes(request.channel_id))
        return pb.ChannelResponse(channel=convert.channel_to_pb(channel))

    @rpc
    async def ListChannels(
        self, request: pb.ListChannelsRequest, context: Any
    ) -> pb.ListChannelsResponse:
        status = channel_status_from_pb(request.status)
        if request.status and status is None:
            raise Rejected(Rejection.MALFORMED, f"unknown status {request.status}")
        channels = await self.call(
            self.service.list_channels,
            party=request.party,
            status=status,
            limit=request.limit,
            after=bytes(request.after_channel_id),
        )
        return pb.ListChannelsResponse(channels=[convert.channel_to_pb(c) for c in channels])

    async def Subscribe(
        self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """Events after `after_event_id` (or from now with `only_new`), then live ones: every
        committed event that matches, once, in stream order.

        History is read from the database (filtered there by account); then the stream joins
        the process's event hub, which offers it what follows. A stream that falls behind is cut
        off with RESOURCE_EXHAUSTED and resumes by subscribing again after its last event.
        """
        task = asyncio.current_task()
        assert task is not None
        try:
            if request.account:
                check_address(request.account, "account")
            check_id(request.after_event_id, "after_event_id")
            sub = self.hub.join(client_address(context.peer()), request.account, task)
        except Rejected as rejected:
            rejection_reason.set(rejected.reason.value)
            await abort_rejected(context, rejected)
            return
        except StreamRefused as refused:
            rejection_reason.set(refused.reason)
            await _abort(context, exhausted_error(refused.reason, refused.message))
            return
        stall = self.hub.limits.write_stall

        async def send(event: pb.Event) -> None:
            async with asyncio.timeout(stall):
                await context.write(event)
            sub.sent = event.event_id

        async def replay(until: int | None) -> None:
            while True:
                page = await self.call(
                    self.service.event_page, sub.sent, REPLAY_PAGE, request.account, until
                )
                for event, channel in page:
                    await send(convert.event_to_pb(event, channel))
                if len(page) < REPLAY_PAGE:
                    return

        sub.sent = request.after_event_id
        try:
            if request.only_new:
                sub.sent = await self.call(self.service.last_event_id)
            await replay(None)  # history, until close to the newest event
            await replay(self.hub.go_live(sub))  # what came meanwhile, up to where the hub is
            while True:
                for event in await sub.take():
                    if event.event_id > sub.sent:
                        await send(event)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not sub.too_slow:
                raise  # the client went away
            await _abort(
                context,
                exhausted_error(
                    SLOW_CONSUMER,
                    f"the stream fell behind (last sent event {sub.sent}); subscribe again with "
                    "after_event_id = the last event received",
                ),
            )
        except (DatabaseUnavailable, CommitOutcomeUnknown) as exc:
            await _abort(
                context,
                unavailable_error(
                    DATABASE_UNAVAILABLE,
                    f"the database is unavailable ({exc}); subscribe again with after_event_id "
                    "= the last event received",
                ),
            )
        finally:
            self.hub.leave(sub)

    @rpc
    async def Audit(self, request: pb.AuditRequest, context: Any) -> pb.AuditResponse:
        return await audit_response(self)

    @rpc
    async def RequestWithdrawal(
        self, request: pb.RequestWithdrawalRequest, context: Any
    ) -> pb.WithdrawalResponse:
        o = self.opened(request.withdrawal, pb.WithdrawalPayload, "withdrawal")
        p = o.payload
        _check_request_id(p.request_id)
        w = await self.call(
            self.service.request_withdrawal,
            p.account,
            p.tron_address,
            p.amount,
            p.nonce,
            o.proof,
            request=request_digest("RequestWithdrawal", request),
        )
        return pb.WithdrawalResponse(withdrawal=convert.withdrawal_to_pb(w))

    @rpc
    async def ListAccountWithdrawals(
        self, request: pb.ListAccountWithdrawalsRequest, context: Any
    ) -> pb.ListWithdrawalsResponse:
        if not request.account:
            raise Rejected(Rejection.MALFORMED, "account is required")
        ws = await self.call(
            self.service.list_withdrawals,
            request.status,
            request.limit,
            request.after_id,
            account=request.account,
        )
        return pb.ListWithdrawalsResponse(withdrawals=[convert.withdrawal_to_pb(w) for w in ws])

    @rpc
    async def GetFaucetChallenge(
        self, request: pb.FaucetChallengeRequest, context: Any
    ) -> pb.FaucetChallenge:
        token, c = await self.call(self.service.faucet_challenge, request.account)
        policy = self.service.faucet_policy
        assert policy is not None  # a challenge is only issued when the faucet is on
        return pb.FaucetChallenge(
            challenge=token,
            difficulty_bits=c.difficulty_bits,
            expires_at=c.expires_at,
            amount=policy.amount,
        )

    @rpc
    async def ClaimFaucet(
        self, request: pb.ClaimFaucetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClaimFaucetResponse:
        grant, account = await self.call(
            self.service.claim_faucet,
            request.account,
            bytes(request.challenge),
            request.solution,
            client_key(context.peer()),
        )
        return pb.ClaimFaucetResponse(
            account=convert.account_to_pb(account), amount=grant.amount, granted_at=grant.granted_at
        )


async def audit_response(base: _Base) -> pb.AuditResponse:
    report = await base.call(base.service.audit)
    t = report.totals
    return pb.AuditResponse(
        account_balances=t.account_balances,
        channel_escrow=t.channel_escrow,
        pending_withdrawals=t.pending_withdrawals,
        deposits_credited=t.deposits_credited,
        withdrawals_paid=t.withdrawals_paid,
        balanced=report.balanced,
        journal_entries=t.journal_entries,
        journal_imbalance=report.journal_imbalance,
    )


class TreasuryServicer(_Base, pb_grpc.TreasuryServicer):
    """For the bridge only: authenticated by a bearer token, separate from user keys."""

    def __init__(
        self, service: LedgerService, executor: ThreadPoolExecutor, token: str | None
    ) -> None:
        super().__init__(service, executor)
        self.token = token

    def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        supplied = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                supplied = value.removeprefix("Bearer ").strip()
        if not self.token:
            raise Rejected(Rejection.UNAUTHENTICATED, "treasury is disabled on this ledger")
        if not hmac.compare_digest(supplied.encode(), self.token.encode()):
            raise Rejected(Rejection.UNAUTHENTICATED, "missing or wrong treasury token")

    @rpc
    async def CreditDeposit(
        self, request: pb.CreditDepositRequest, context: Any
    ) -> pb.CreditDepositResponse:
        self._authorize(context)
        new, account = await self.call(
            self.service.credit_deposit,
            request.txid,
            request.contract_index,
            request.account,
            request.amount,
            request.tron_from,
        )
        return pb.CreditDepositResponse(newly_credited=new, account=convert.account_to_pb(account))

    @rpc
    async def ListWithdrawals(
        self, request: pb.ListWithdrawalsRequest, context: Any
    ) -> pb.ListWithdrawalsResponse:
        self._authorize(context)
        ws = await self.call(
            self.service.list_withdrawals, request.status, request.limit, request.after_id
        )
        return pb.ListWithdrawalsResponse(withdrawals=[convert.withdrawal_to_pb(w) for w in ws])

    @rpc
    async def MarkWithdrawalPaid(
        self, request: pb.MarkWithdrawalPaidRequest, context: Any
    ) -> pb.WithdrawalResponse:
        self._authorize(context)
        w = await self.call(self.service.mark_withdrawal_paid, request.withdrawal_id, request.txid)
        return pb.WithdrawalResponse(withdrawal=convert.withdrawal_to_pb(w))

    @rpc
    async def MarkWithdrawalFailed(
        self, request: pb.MarkWithdrawalFailedRequest, context: Any
    ) -> pb.WithdrawalResponse:
        self._authorize(context)
        w = await self.call(
            self.service.mark_withdrawal_failed, request.withdrawal_id, request.reason
        )
        return pb.WithdrawalResponse(withdrawal=convert.withdrawal_to_pb(w))

    @rpc
    async def Audit(self, request: pb.AuditRequest, context: Any) -> pb.AuditResponse:
        self._authorize(context)
        return await audit_response(self)

    @rpc
    async def AcquireLease(self, request: pb.AcquireLeaseRequest, context: Any) -> pb.LeaseResponse:
        self._authorize(context)
        granted, lease = await self.call(
            self.service.acquire_lease, request.holder, request.ttl_seconds
        )
        return convert.lease_to_pb(granted, lease)

    @rpc
    async def ReleaseLease(self, request: pb.ReleaseLeaseRequest, context: Any) -> pb.LeaseResponse:
        self._authorize(context)
        lease = await self.call(self.service.release_lease, request.holder)
        return convert.lease_to_pb(False, lease)

    @rpc
    async def RecordPayoutTx(
        self, request: pb.RecordPayoutTxRequest, context: Any
    ) -> pb.PayoutResponse:
        self._authorize(context)
        w, txs = await self.call(
            self.service.record_payout_tx,
            request.withdrawal_id,
            holder=request.holder,
            replaces_txid=request.replaces_txid,
            txid=request.txid,
            expiration_ms=request.expiration_ms,
            signed_tx=request.signed_tx,
        )
        return pb.PayoutResponse(payout=convert.payout_to_pb(w, txs))

    @rpc
    async def ListPayouts(
        self, request: pb.ListWithdrawalsRequest, context: Any
    ) -> pb.ListPayoutsResponse:
        self._authorize(context)
        found = await self.call(
            self.service.list_payouts, request.status, request.limit, request.after_id
        )
        return pb.ListPayoutsResponse(payouts=[convert.payout_to_pb(w, txs) for w, txs in found])
