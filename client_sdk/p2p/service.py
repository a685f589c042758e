"""The gRPC service each payee runs beside its libtorrent session (btt.payee.v1.Payee).

Thin: every rule lives in `PayeeBook`. The Pay stream groups the updates that arrived together
into one batch so they share one fsync'd commit; each receipt still leaves only after the commit
that covers its update.

Extensible: the market adds RPCs to the same service later; `PayeeServicer.register(name,
handler)` fills them in, and `PayeeServer(extra_services=...)` mounts whole other services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha import reflection

from btt.payee.v1 import payee_pb2 as ppb
from btt.payee.v1 import payee_pb2_grpc as ppb_grpc
from client_sdk.channel.book import PayeeBook
from client_sdk.channel.errors import PeerMisbehaved, TermsRefused
from client_sdk.channel.states import SignedState
from client_sdk.ledger_client import LedgerRejected, LedgerUnavailable
from core.crypto import is_address
from core.rejections import REASON_METADATA_KEY
from core.rpc import RequestInterceptor

log = logging.getLogger(__name__)

MAX_BATCH = 4096  # updates per commit group from one stream
QUEUE_DEPTH = 1024  # stream messages read ahead
PAYEE_SERVICE = ppb.DESCRIPTOR.services_by_name["Payee"].full_name


class Rates(Protocol):
    """The one owner of the rates in force: what a bid wins, and what a winner pays."""

    def bid(self, request: ppb.BidRequest) -> int | None:
        """Enter the bid; the rate (<= the bid) it wins now, or None when it does not."""

    def rate_for(self, payer: str, info_hash: str) -> int | None:
        """The rate the payer's winning bid on this torrent pays, or None."""

    def refusal(self, payer: str, info_hash: str) -> str:
        """Why the payer's last bid does not win (BELOW_RESERVE, OUTBID...), or TOO_FREQUENT
        when its change was refused and the earlier bid stays in force; "" otherwise."""


class ReserveRates:
    """Pricing until the auction plugs in: a bid at or above the reserve pays its bid."""

    def __init__(self, book: PayeeBook, reserve: int = 0) -> None:
        self._book = book
        self.reserve = reserve
        self._wins: dict[tuple[str, str], int] = {}

    def bid(self, request: ppb.BidRequest) -> int | None:
        key = (request.payer, request.info_hash)
        if request.units_per_piece < max(self.reserve, 1):
            self._wins.pop(key, None)
            return None
        rate = self._wins[key] = request.units_per_piece
        self._book.reprice(request.payer, request.info_hash, rate)
        return rate

    def rate_for(self, payer: str, info_hash: str) -> int | None:
        return self._wins.get((payer, info_hash))

    def refusal(self, payer: str, info_hash: str) -> str:
        return "" if (payer, info_hash) in self._wins else "BID_TOO_LOW"


async def _abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, reason: str, msg: str
) -> None:
    context.set_trailing_metadata(((REASON_METADATA_KEY, reason),))
    await context.abort(code, f"{reason}: {msg}")


def guarded(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Channel errors -> precise status codes with a btt-reason trailer; never a traceback."""

    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(self, request, context)
        except TermsRefused as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, "TERMS_REFUSED", str(exc))
        except PeerMisbehaved as exc:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, "PEER_MISBEHAVED", str(exc))
        except LedgerRejected as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, exc.reason, exc.message)
        except LedgerUnavailable as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, "LEDGER_UNAVAILABLE", str(exc))
        except DecodeError:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED", "a payload does not parse"
            )

    wrapper.__name__ = handler.__name__
    return wrapper


class PayeeServicer(ppb_grpc.PayeeServicer):
    def __init__(self, book: PayeeBook, rates: Rates | None = None) -> None:
        self.book = book
        self.rates: Rates = rates or ReserveRates(book)
        self.max_batch = MAX_BATCH  # 1: no grouping beyond one stream message

    def register(self, name: str, handler: Callable[..., Any]) -> None:
        """Serve an RPC of the Payee service that this class leaves unimplemented."""
        if name in type(self).__dict__:
            raise ValueError(f"{name} is already served")
        setattr(self, name, handler)

    @guarded
    async def Bid(self, request: ppb.BidRequest, context: Any) -> ppb.BidResponse:
        book = self.book
        base = ppb.BidResponse(
            payee=book.address,
            ledger_id=book.ledger_id,
            piece_size=book.terms.piece_size,
            terms=book.terms.to_pb(book.now()),
        )
        if not is_address(request.payer) or request.units_per_piece < 0:
            base.reason = "MALFORMED"
            return base
        rate = self.rates.bid(request)
        base.reason = self.rates.refusal(request.payer, request.info_hash)
        if rate is None or not 0 < rate <= request.units_per_piece:
            base.reason = base.reason or "BID_TOO_LOW"
            return base
        base.accepted = True
        base.rate = rate
        return base

    @guarded
    async def SignRefund(
        self, request: ppb.SignRefundRequest, context: Any
    ) -> ppb.SignRefundResponse:
        rate = self.rates.rate_for(request.payer, request.info_hash)
        if rate is None:
            raise TermsRefused("place a winning bid for this torrent first")
        refund = self.book.sign_refund(
            channel_id=bytes(request.channel_id),
            payer=request.payer,
            deposit=request.deposit,
            expiry=request.expiry,
            salt=request.salt,
            rate=rate,
            info_hash=request.info_hash,
        )
        return ppb.SignRefundResponse(refund=refund)

    @guarded
    async def ChannelOpened(
        self, request: ppb.ChannelOpenedRequest, context: Any
    ) -> ppb.ChannelOpenedResponse:
        ch = await self.book.opened(
            bytes(request.channel_id), request.info_hash, request.peer_endpoint
        )
        r = ch.record
        return ppb.ChannelOpenedResponse(
            ready=ch.is_open,
            rate=r.rate,
            best_nonce=r.best_nonce,
            best_cumulative=r.best_cumulative,
            best_signature=r.best_signature,
            reason="" if ch.is_open else f"channel is {r.status}",
        )

    @guarded
    async def SignTopUpRefund(
        self, request: ppb.SignTopUpRefundRequest, context: Any
    ) -> ppb.SignTopUpRefundResponse:
        refund = await self.book.sign_topup_refund(
            bytes(request.channel_id), request.new_expiry, request.sequence
        )
        return ppb.SignTopUpRefundResponse(refund=refund)

    @guarded
    async def CooperativeClose(
        self, request: ppb.CooperativeCloseRequest, context: Any
    ) -> ppb.CooperativeCloseResponse:
        ours, settled = await self.book.cooperative_close(request.payer_close)
        return ppb.CooperativeCloseResponse(payee_close=ours, channel=settled)

    async def Pay(
        self, request_iterator: AsyncIterator[ppb.PaymentUpdates], context: Any
    ) -> AsyncIterator[ppb.PaymentReceipts]:
        """Updates that queued up while the last group was committing form the next group."""
        queue: asyncio.Queue[ppb.PaymentUpdates | None] = asyncio.Queue(QUEUE_DEPTH)

        async def read() -> None:
            try:
                async for message in request_iterator:
                    await queue.put(message)
            finally:
                await queue.put(None)

        reader = asyncio.create_task(read())
        try:
            done = False
            while not done:
                item = await queue.get()
                if item is None:
                    break
                updates = list(item.updates)
                while len(updates) < self.max_batch and not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt is None:
                        done = True
                        break
                    updates.extend(nxt.updates)
                if not updates:
                    continue
                states = [
                    SignedState(bytes(u.channel_id), u.nonce, u.cumulative, bytes(u.signature))
                    for u in updates
                ]
                receipts = await self.book.submit(states)
                yield ppb.PaymentReceipts(receipts=receipts)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


class PayeeServer:
    """A running payee service on one address (127.0.0.1:0 picks a free port)."""

    def __init__(
        self,
        book: PayeeBook,
        *,
        rates: Rates | None = None,
        extra_services: Sequence[Callable[[grpc.aio.Server], None]] = (),
    ) -> None:
        self.book = book
        self.servicer = PayeeServicer(book, rates)
        self._extra = list(extra_services)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(
        self,
        address: str = "127.0.0.1:0",
        *,
        watch_events: bool = True,
        credentials: grpc.ServerCredentials | None = None,
    ) -> str:
        """Serve on `address`, over TLS with `credentials` (else plaintext)."""
        server = grpc.aio.server(interceptors=[RequestInterceptor(logger=log)])
        ppb_grpc.add_PayeeServicer_to_server(self.servicer, server)
        for add in self._extra:
            add(server)
        reflection.enable_server_reflection((PAYEE_SERVICE, reflection.SERVICE_NAME), server)
        self.port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
        await server.start()
        self._server = server
        await self.book.start(watch_events=watch_events)
        return self.target

    async def stop(self, grace: float = 0.5) -> None:
        await self.book.stop()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
