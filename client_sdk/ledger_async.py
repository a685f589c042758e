"""Typed asyncio client of the btt-ledger gRPC service, re-exported by client_sdk.ledger_client,
whose docstring says how calls are bounded, retried and resent."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_errors import (
    _RETRYABLE,
    BatchOutcome,
    LedgerError,
    LedgerRejected,
    LedgerUnavailable,
    NoSigningKey,
    _batch_outcome,
    _error,
    _resumable,
)
from core.crypto import SigningKey
from core.envelopes import sign
from core.signing import derive_channel_id

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
READ_ATTEMPTS = 4
WRITE_ATTEMPTS = 6
BACKOFF_BASE = 0.1
BACKOFF_CAP = 2.0
_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    ledger_id: str
    version: str
    now: int
    challenge_window_seconds: int
    max_amount: int
    last_event_id: int  # subscribe after this id to see every later event


def channel_credentials(ca_cert: str | Path | None) -> grpc.ChannelCredentials | None:
    if ca_cert is None:
        return None
    return grpc.ssl_channel_credentials(root_certificates=Path(ca_cert).read_bytes())


class AsyncLedgerClient:
    """One account's view of the ledger. `key` signs the operations its account performs."""

    def __init__(
        self,
        target: str,
        key: SigningKey | None = None,
        *,
        ca_cert: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        read_attempts: int = READ_ATTEMPTS,
        write_attempts: int = WRITE_ATTEMPTS,
    ) -> None:
        self.target = target
        self.key = key
        self.timeout = timeout
        self.read_attempts = max(1, read_attempts)
        self.write_attempts = max(1, write_attempts)
        options = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
        ]
        creds = channel_credentials(ca_cert)
        self._channel = (
            grpc.aio.secure_channel(target, creds, options=options)
            if creds is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.LedgerStub(self._channel)
        self._info: LedgerInfo | None = None
        self._nonce_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncLedgerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- plumbing

    def _signer(self) -> SigningKey:
        if self.key is None:
            raise NoSigningKey("this operation needs a signing key; create the client with one")
        return self.key

    async def _write(self, send: Callable[[], Awaitable[T]]) -> T:
        """Send one signed request; resend the same bytes while the outcome is unknown."""
        return await self._retrying(send, self.write_attempts, write=True)

    async def _read(self, make_call: Callable[[], Awaitable[T]]) -> T:
        return await self._retrying(make_call, self.read_attempts, write=False)

    async def _retrying(
        self, make_call: Callable[[], Awaitable[T]], attempts: int, *, write: bool
    ) -> T:
        delay = BACKOFF_BASE
        for attempt in range(attempts):
            try:
                return await make_call()
            except grpc.RpcError as exc:
                if exc.code() not in _RETRYABLE or attempt + 1 == attempts:  # type: ignore[attr-defined]
                    raise _error(exc, write=write) from None
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_CAP)
        raise AssertionError("unreachable")

    async def ledger_id(self) -> str:
        if self._info is None:
            await self.get_info()
        assert self._info is not None
        return self._info.ledger_id

    async def _sign(self, payload: Any, key: SigningKey | None = None) -> pb.Signed:
        return sign(key or self._signer(), await self.ledger_id(), payload)

    # ---------------------------------------------------------------- reads

    async def get_info(self) -> LedgerInfo:
        r = await self._read(lambda: self._stub.GetInfo(pb.GetInfoRequest(), timeout=self.timeout))
        info = LedgerInfo(
            r.ledger_id,
            r.version,
            r.now,
            r.challenge_window_seconds,
            r.max_amount,
            r.last_event_id,
        )
        if self._info is not None and self._info.ledger_id != info.ledger_id:
            raise LedgerError(
                f"ledger id changed from {self._info.ledger_id} to {info.ledger_id}; refusing"
            )
        self._info = info
        return info

    async def now(self) -> int:
        return (await self.get_info()).now

    async def account(self, account: str | None = None) -> pb.Account:
        who = account or self._signer().address
        return await self._read(
            lambda: self._stub.GetAccount(pb.GetAccountRequest(account=who), timeout=self.timeout)
        )

    async def balance(self, account: str | None = None) -> int:
        return int((await self.account(account)).balance)

    async def get_channel(self, channel_id: bytes) -> pb.Channel:
        r = await self._read(
            lambda: self._stub.GetChannel(
                pb.GetChannelRequest(channel_id=channel_id), timeout=self.timeout
            )
        )
        return r.channel

    async def list_channels(
        self,
        party: str = "",
        status: int = pb.CHANNEL_STATUS_UNSPECIFIED,
        *,
        limit: int = 100,
        after: bytes = b"",
    ) -> list[pb.Channel]:
        request = pb.ListChannelsRequest(
            party=party,
            status=status,  # type: ignore[arg-type]  # the enum's values are ints
            limit=limit,
            after_channel_id=after,
        )
        r = await self._read(lambda: self._stub.ListChannels(request, timeout=self.timeout))
        return list(r.channels)

    async def all_channels(
        self, party: str = "", status: int = pb.CHANNEL_STATUS_UNSPECIFIED
    ) -> list[pb.Channel]:
        """Every matching channel, following the paging cursor."""
        found: list[pb.Channel] = []
        after = b""
        while True:
            page = await self.list_channels(party, status, limit=1000, after=after)
            found.extend(page)
            if len(page) < 1000:
                return found
            after = bytes(page[-1].channel_id)

    async def audit(self) -> pb.AuditResponse:
        return await self._read(lambda: self._stub.Audit(pb.AuditRequest(), timeout=self.timeout))

    async def withdrawals(
        self, account: str | None = None, status: str = "", *, limit: int = 100, after: int = 0
    ) -> list[pb.Withdrawal]:
        """An account's withdrawals (yours by default), oldest first, with status and txid."""
        request = pb.ListAccountWithdrawalsRequest(
            account=account or self._signer().address, status=status, limit=limit, after_id=after
        )
        r = await self._read(
            lambda: self._stub.ListAccountWithdrawals(request, timeout=self.timeout)
        )
        return list(r.withdrawals)

    # ---------------------------------------------------------------- account writes

    async def _with_account_nonce(self, attempt: Callable[[int], Awaitable[T]]) -> T:
        """Run `attempt(nonce)` with last-used + 1; on NONCE_REUSED refresh and retry once."""
        async with self._nonce_lock:
            for tries in (1, 2):
                nonce = int((await self.account()).nonce) + 1
                try:
                    return await attempt(nonce)
                except LedgerRejected as exc:
                    if exc.reason != "NONCE_REUSED" or tries == 2:
                        raise
        raise AssertionError("unreachable")

    async def transfer(self, to: str, amount: int, memo: str = "") -> pb.TransferResponse:
        key = self._signer()

        async def attempt(nonce: int) -> pb.TransferResponse:
            payload = pb.TransferPayload(
                from_account=key.address,
                to_account=to,
                amount=amount,
                nonce=nonce,
                memo=memo,
                request_id=os.urandom(16),
            )
            request = pb.TransferRequest(transfer=await self._sign(payload))
            return await self._write(lambda: self._stub.Transfer(request, timeout=self.timeout))

        return await self._with_account_nonce(attempt)

    # ---------------------------------------------------------------- batches

    async def submit_batch(self, operations: Sequence[pb.BatchOperation]) -> list[BatchOutcome]:
        """Send signed operations (transfers, state checkpoints, payee closes) in one call.

        Each is answered on its own, in order: a refusal of one leaves the others applied. An
        operation whose outcome the ledger could not tell (or that found the database down) is
        resent as the same bytes in a following call, like a single write, up to the bound;
        so is the whole call when no answer came. What is still unknown then is reported as
        `LedgerOutcomeUnknown` for that operation: resend it later, never re-sign it.
        """
        outcomes: list[BatchOutcome | None] = [None] * len(operations)
        todo = list(range(len(operations)))
        delay = BACKOFF_BASE
        for attempt in range(self.write_attempts):
            request = pb.SubmitBatchRequest(operations=[operations[i] for i in todo])

            def send(r: pb.SubmitBatchRequest = request) -> Awaitable[pb.SubmitBatchResponse]:
                return self._stub.SubmitBatch(r, timeout=self.timeout)

            reply = await self._write(send)
            retry = []
            for i, result in zip(todo, reply.results, strict=True):
                outcome = _batch_outcome(result)
                outcomes[i] = outcome
                if isinstance(outcome.error, LedgerUnavailable):
                    retry.append(i)
            todo = retry
            if not todo or attempt + 1 == self.write_attempts:
                break
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_CAP)
        return [o for o in outcomes if o is not None]

    async def transfer_many(self, transfers: Sequence[tuple[str, int, str]]) -> list[BatchOutcome]:
        """Sign (to, amount, memo) transfers from this account with consecutive nonces and send
        them as one batch. A refused transfer leaves its nonce unused: the ones after it are then
        refused with INVALID_NONCE, since nonces are taken in order."""
        key = self._signer()
        async with self._nonce_lock:
            first = int((await self.account()).nonce) + 1
            ops = [
                pb.BatchOperation(
                    transfer=pb.TransferRequest(
                        transfer=await self._sign(
                            pb.TransferPayload(
                                from_account=key.address,
                                to_account=to,
                                amount=amount,
                                nonce=first + n,
                                memo=memo,
                                request_id=os.urandom(16),
                            )
                        )
                    )
                )
                for n, (to, amount, memo) in enumerate(transfers)
            ]
            return await self.submit_batch(ops)

    async def request_withdrawal(self, tron_address: str, amount: int) -> pb.Withdrawal:
        key = self._signer()

        async def attempt(nonce: int) -> pb.Withdrawal:
            payload = pb.WithdrawalPayload(
                account=key.address,
                tron_address=tron_address,
                amount=amount,
                nonce=nonce,
                request_id=os.urandom(16),
            )
            request = pb.RequestWithdrawalRequest(withdrawal=await self._sign(payload))
            r = await self._write(
                lambda: self._stub.RequestWithdrawal(request, timeout=self.timeout)
            )
            return r.withdrawal

        return await self._with_account_nonce(attempt)

    # ---------------------------------------------------------------- promotional faucet

    async def faucet_challenge(self, account: str | None = None) -> pb.FaucetChallenge:
        who = account or self._signer().address
        request = pb.FaucetChallengeRequest(account=who)
        return await self._read(
            lambda: self._stub.GetFaucetChallenge(request, timeout=self.timeout)
        )

    async def claim_faucet(
        self, challenge: bytes, solution: int, account: str | None = None
    ) -> pb.ClaimFaucetResponse:
        """Safe to resend: the ledger answers a repeat of a granted claim with the same grant."""
        who = account or self._signer().address
        request = pb.ClaimFaucetRequest(account=who, challenge=challenge, solution=solution)
        return await self._write(lambda: self._stub.ClaimFaucet(request, timeout=self.timeout))

    # ---------------------------------------------------------------- channels

    async def _channel_write(
        self, method: Callable[..., Awaitable[pb.ChannelResponse]], request: Any
    ) -> pb.Channel:
        return (await self._write(lambda: method(request, timeout=self.timeout))).channel

    async def open_channel(
        self, payee: str, deposit: int, expiry: int, salt: int, refund: pb.Signed
    ) -> pb.Channel:
        """Fund a channel (T1) with the payee's already-signed refund (T2). Signs as the payer."""
        key = self._signer()
        channel_id = derive_channel_id(await self.ledger_id(), key.address, payee, salt)
        commitment = await self._sign(
            pb.OpenChannelPayload(
                payer=key.address,
                payee=payee,
                deposit=deposit,
                expiry=expiry,
                salt=salt,
                channel_id=channel_id,
            )
        )
        request = pb.OpenChannelRequest(commitment=commitment, refund=refund)
        return await self._channel_write(self._stub.OpenChannel, request)

    async def submit_state(self, state: pb.Signed) -> pb.Channel:
        """Checkpoint a payer-signed ChannelStatePayload (anyone may submit it)."""
        request = pb.SubmitStateRequest(state=state)
        return await self._channel_write(self._stub.SubmitState, request)

    async def close_channel(
        self, channel_id: bytes, state: pb.Signed | None, nonce: int, cumulative: int
    ) -> pb.Channel:
        """Payee close with the best payer-signed `state` (None: the best checkpoint)."""
        close = await self._sign(
            pb.CloseChannelPayload(channel_id=channel_id, nonce=nonce, cumulative=cumulative)
        )
        request = pb.CloseChannelRequest(close=close)
        if state is not None:
            request.state.CopyFrom(state)
        return await self._channel_write(self._stub.CloseChannel, request)

    async def cooperative_close(self, payer_close: pb.Signed, payee_close: pb.Signed) -> pb.Channel:
        request = pb.CooperativeCloseRequest(payer_close=payer_close, payee_close=payee_close)
        return await self._channel_write(self._stub.CooperativeClose, request)

    async def request_close(self, channel_id: bytes) -> pb.Channel:
        signed = await self._sign(pb.RequestClosePayload(channel_id=channel_id))
        request = pb.RequestCloseRequest(request=signed)
        return await self._channel_write(self._stub.RequestClose, request)

    async def claim_refund(self, channel_id: bytes, refund: pb.Signed) -> pb.Channel:
        claim = await self._sign(pb.ClaimRefundPayload(channel_id=channel_id))
        request = pb.ClaimRefundRequest(claim=claim, refund=refund)
        return await self._channel_write(self._stub.ClaimRefund, request)

    async def top_up(
        self,
        channel_id: bytes,
        additional_deposit: int,
        new_expiry: int,
        sequence: int,
        refund: pb.Signed | None = None,
    ) -> pb.Channel:
        signed = await self._sign(
            pb.TopUpPayload(
                channel_id=channel_id,
                additional_deposit=additional_deposit,
                new_expiry=new_expiry,
                sequence=sequence,
            )
        )
        request = pb.TopUpRequest(topup=signed)
        if refund is not None:
            request.refund.CopyFrom(refund)
        return await self._channel_write(self._stub.TopUp, request)

    # ---------------------------------------------------------------- events

    async def events(
        self,
        account: str = "",
        after_event_id: int = 0,
        *,
        only_new: bool = False,
        reconnect: bool = True,
        max_backoff: float = BACKOFF_CAP,
    ) -> AsyncGenerator[pb.Event]:
        """Follow the ledger's events after `after_event_id` (0: from the first one; `only_new`:
        from the ledger's latest), each once, in the ledger's order. A stream that drops, or that
        the ledger cut off because this reader fell behind, resumes after the last event seen."""
        cursor = (await self.get_info()).last_event_id if only_new else after_event_id
        delay = BACKOFF_BASE
        while True:
            call = self._stub.Subscribe(pb.SubscribeRequest(account=account, after_event_id=cursor))
            try:
                async for event in call:
                    cursor = event.event_id
                    delay = BACKOFF_BASE
                    yield event
                return
            except grpc.RpcError as exc:
                if not reconnect or not _resumable(exc):
                    raise _error(exc) from None
            finally:
                call.cancel()
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)
