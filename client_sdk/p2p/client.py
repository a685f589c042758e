"""The payer's client of a payee's service, with the payment stream as the hot path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.payee.v1 import payee_pb2 as ppb
from btt.payee.v1 import payee_pb2_grpc as ppb_grpc
from client_sdk.channel.errors import PayeeUnavailable, TermsRefused
from client_sdk.channel.states import SignedState
from core.rejections import reason_of

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class PaymentStream:
    """One Pay stream: updates go out in order, receipts are matched by (channel_id, nonce).

    Updates queued while the previous message was being written leave together in the next
    PaymentUpdates message, so concurrent payments share gRPC messages and payee commits.
    """

    MAX_UPDATES_PER_MESSAGE = 1024

    def __init__(self, stub: ppb_grpc.PayeeStub) -> None:
        self._call = stub.Pay()
        self._pending: dict[tuple[bytes, int], asyncio.Future[ppb.PaymentReceipt]] = {}
        self._outbox: list[ppb.PaymentUpdate] = []
        self._wake = asyncio.Event()
        self.broken: BaseException | None = None
        self._reader = asyncio.create_task(self._read())
        self._writer = asyncio.create_task(self._write())

    async def _read(self) -> None:
        try:
            async for message in self._call:
                for receipt in message.receipts:
                    fut = self._pending.pop((bytes(receipt.channel_id), receipt.nonce), None)
                    if fut is not None and not fut.done():
                        fut.set_result(receipt)
            self._fail(PayeeUnavailable("payee closed the payment stream"))
        except grpc.RpcError as exc:
            code = exc.code().name  # type: ignore[attr-defined]
            self._fail(PayeeUnavailable(f"payment stream failed: {code}"))
        except asyncio.CancelledError:
            self._fail(PayeeUnavailable("payment stream closed"))
            raise

    async def _write(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outbox:
                    chunk = self._outbox[: self.MAX_UPDATES_PER_MESSAGE]
                    del self._outbox[: len(chunk)]
                    await self._call.write(ppb.PaymentUpdates(updates=chunk))
        except (grpc.RpcError, asyncio.InvalidStateError) as exc:
            self._fail(PayeeUnavailable(f"payment stream failed: {exc}"))

    def _fail(self, error: PayeeUnavailable) -> None:
        if self.broken is None:
            self.broken = error
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self.broken)
        self._pending.clear()

    def send(self, state: SignedState) -> asyncio.Future[ppb.PaymentReceipt]:
        """Queue one update; the future resolves with its receipt."""
        if self.broken is not None:
            raise self.broken
        fut: asyncio.Future[ppb.PaymentReceipt] = asyncio.get_running_loop().create_future()
        self._pending[(state.channel_id, state.nonce)] = fut
        self._outbox.append(
            ppb.PaymentUpdate(
                channel_id=state.channel_id,
                nonce=state.nonce,
                cumulative=state.cumulative,
                signature=state.signature,
            )
        )
        self._wake.set()
        return fut

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(Exception):
            await self._call.done_writing()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(self._reader), 2)
        self._reader.cancel()
        self._call.cancel()


def payee_channel(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    """A channel to a payee service: TLS when given `credentials`."""
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials)
    return grpc.aio.insecure_channel(target)


class PayeeClient:
    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """`credentials`: reach a payee that serves TLS (else plaintext)."""
        self.target = target
        self.timeout = timeout
        self._channel = payee_channel(target, credentials)
        self._stub = ppb_grpc.PayeeStub(self._channel)
        self._stream: PaymentStream | None = None

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        await self._channel.close()

    async def _unary(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            details = exc.details() or ""  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise PayeeUnavailable(f"payee {self.target}: {code.name} {details}") from None
            raise TermsRefused(details or (reason_of(exc) or code.name)) from None

    async def bid(
        self, payer: str, units_per_piece: int, peer_endpoint: str, info_hash: str
    ) -> ppb.BidResponse:
        request = ppb.BidRequest(
            payer=payer,
            units_per_piece=units_per_piece,
            peer_endpoint=peer_endpoint,
            info_hash=info_hash,
        )
        return await self._unary(self._stub.Bid(request, timeout=self.timeout))

    async def sign_refund(self, request: ppb.SignRefundRequest) -> pb.Signed:
        r = await self._unary(self._stub.SignRefund(request, timeout=self.timeout))
        return r.refund

    async def channel_opened(
        self, channel_id: bytes, info_hash: str, peer_endpoint: str
    ) -> ppb.ChannelOpenedResponse:
        request = ppb.ChannelOpenedRequest(
            channel_id=channel_id, info_hash=info_hash, peer_endpoint=peer_endpoint
        )
        return await self._unary(self._stub.ChannelOpened(request, timeout=self.timeout))

    async def sign_topup_refund(
        self, channel_id: bytes, new_expiry: int, sequence: int
    ) -> pb.Signed:
        request = ppb.SignTopUpRefundRequest(
            channel_id=channel_id, new_expiry=new_expiry, sequence=sequence
        )
        r = await self._unary(self._stub.SignTopUpRefund(request, timeout=self.timeout))
        return r.refund

    async def cooperative_close(self, payer_close: pb.Signed) -> ppb.CooperativeCloseResponse:
        request = ppb.CooperativeCloseRequest(payer_close=payer_close)
        return await self._unary(self._stub.CooperativeClose(request, timeout=self.timeout))

    async def report_failed_piece(
        self, payer: str, info_hash: str, piece: int, nbytes: int
    ) -> ppb.FailedPieceAck:
        """Tell the payee its blocks were in a piece that failed the hash check."""
        report = ppb.FailedPieceReport(payer=payer, info_hash=info_hash, piece=piece, bytes=nbytes)
        return await self._unary(self._stub.ReportFailedPiece(report, timeout=self.timeout))

    async def watch(self, payer: str, info_hash: str) -> AsyncIterator[ppb.ServiceUpdate]:
        """The payee's service for `payer` on `info_hash`: the current one, then every change.

        Ends (PayeeUnavailable) when the stream breaks; the caller may watch again."""
        call = self._stub.Watch(ppb.WatchRequest(payer=payer, info_hash=info_hash))
        try:
            async for update in call:
                yield update
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            raise PayeeUnavailable(f"payee {self.target}: watch failed: {code.name}") from None
        finally:
            call.cancel()

    def stream(self) -> PaymentStream:
        """The live payment stream, reopened when the last one broke."""
        if self._stream is None or self._stream.broken is not None:
            self._stream = PaymentStream(self._stub)
        return self._stream
