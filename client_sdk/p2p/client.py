"""The payer's client of a payee's service, with the payment stream as the hot path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.payee.v1 import payee_pb2 as ppb
from btt.payee.v1 import payee_pb2_grpc as ppb_grpc
from client_sdk.channel.errors import PayeeUnavailable, TermsRefused
from client_sdk.channel.states import SignedState
from ledger.rpc.errors import reason_of

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class PaymentStream:
    """One Pay stream: send updates in order, match receipts by (channel_id, nonce)."""

    def __init__(self, stub: ppb_grpc.PayeeStub) -> None:
        self._call = stub.Pay()
        self._pending: dict[tuple[bytes, int], asyncio.Future[ppb.PaymentReceipt]] = {}
        self._reader = asyncio.create_task(self._read())
        self.broken: BaseException | None = None

    async def _read(self) -> None:
        try:
            async for receipt in self._call:
                fut = self._pending.pop((bytes(receipt.channel_id), receipt.nonce), None)
                if fut is not None and not fut.done():
                    fut.set_result(receipt)
            self.broken = PayeeUnavailable("payee closed the payment stream")
        except grpc.RpcError as exc:
            self.broken = PayeeUnavailable(f"payment stream failed: {exc.code().name}")  # type: ignore[attr-defined]
        except asyncio.CancelledError:
            self.broken = PayeeUnavailable("payment stream closed")
            raise
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(self.broken or PayeeUnavailable("payment stream closed"))
            self._pending.clear()

    async def send(self, state: SignedState) -> asyncio.Future[ppb.PaymentReceipt]:
        """Write one update; the future resolves with its receipt."""
        if self.broken is not None:
            raise self.broken
        fut: asyncio.Future[ppb.PaymentReceipt] = asyncio.get_running_loop().create_future()
        self._pending[(state.channel_id, state.nonce)] = fut
        try:
            await self._call.write(
                ppb.PaymentUpdate(
                    channel_id=state.channel_id,
                    nonce=state.nonce,
                    cumulative=state.cumulative,
                    signature=state.signature,
                )
            )
        except (grpc.RpcError, asyncio.InvalidStateError) as exc:
            self._pending.pop((state.channel_id, state.nonce), None)
            self.broken = PayeeUnavailable(f"payment stream failed: {exc}")
            raise self.broken from None
        return fut

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._call.done_writing()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(self._reader), 2)
        self._reader.cancel()
        self._call.cancel()


class PayeeClient:
    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(target)
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

    def stream(self) -> PaymentStream:
        """The live payment stream, reopened when the last one broke."""
        if self._stream is None or self._stream.broken is not None:
            self._stream = PaymentStream(self._stub)
        return self._stream
