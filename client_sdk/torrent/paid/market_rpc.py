"""The market's RPCs on the payee service (ReservePrice, ProvePossession) and their payer side.

The handlers are plain async functions over a lookup of the seeded torrents' markets; the
PaidSeeder registers them on its `PayeeServicer` and runs them on the service's event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from btt.payee.v1 import payee_pb2 as ppb
from btt.payee.v1 import payee_pb2_grpc as ppb_grpc
from client_sdk.p2p.client import payee_channel
from client_sdk.torrent.market import (
    CHUNK_SIZE,
    Challenge,
    ProofRejected,
    ReserveAnnouncement,
    RoundResult,
    SellerMarket,
)
from client_sdk.torrent.market import Proof as MarketProof

MarketLookup = Callable[[str], SellerMarket | None]
Clock = Callable[[], float]
RoundSink = Callable[[str, RoundResult], None]


def announcement_pb(info_hash: str, ann: ReserveAnnouncement, market: SellerMarket) -> Any:
    last = market.auctioneer.last
    return ppb.ReservePriceResponse(
        info_hash=info_hash,
        reserve_price=ann.reserve_price,
        challenge_nonce=ann.challenge.nonce,
        challenge_piece=ann.challenge.piece,
        challenge_chunk=ann.challenge.chunk,
        chunk_size=CHUNK_SIZE,
        paid_slots=market.auctioneer.config.paid_slots,
        rate=(last.rate or 0) if last is not None else 0,
    )


class MarketHandlers:
    """ReservePrice and ProvePossession over the torrents' `SellerMarket`s."""

    def __init__(self, markets: MarketLookup, clock: Clock, on_round: RoundSink) -> None:
        self._markets = markets
        self._clock = clock
        self._on_round = on_round

    async def reserve_price(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        market = self._markets(request.info_hash)
        if market is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "UNKNOWN_TORRENT: not seeded here")
        assert market is not None
        return announcement_pb(request.info_hash, market.announcement(self._clock()), market)

    async def prove_possession(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        market = self._markets(request.info_hash)
        if market is None:
            return ppb.ProvePossessionResponse(reason="UNKNOWN_TORRENT", message="not seeded here")
        now = self._clock()
        proof = MarketProof(
            request.challenge_nonce, request.piece, request.chunk, bytes(request.chunk_sha256)
        )
        outcome = market.on_proof(proof, now)
        if outcome.round is not None:
            self._on_round(request.info_hash, outcome.round)
        verdict = outcome.verdict
        reply = ppb.ProvePossessionResponse(
            accepted=not isinstance(verdict, ProofRejected),
            announcement=announcement_pb(request.info_hash, market.announcement(now), market),
        )
        if isinstance(verdict, ProofRejected):
            reply.reason = verdict.reason.value
            reply.message = verdict.detail
        return reply


def challenge_of(reply: Any) -> Challenge:
    """The challenge in a ReservePriceResponse, for `market.answer_challenge`."""
    return Challenge(
        int(reply.challenge_nonce), int(reply.challenge_piece), int(reply.challenge_chunk), 0.0
    )


async def fetch_reserve(
    target: str,
    info_hash: str,
    timeout: float = 5.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> Any | None:
    """The payee's reserve price and challenge; None when it does not run the market."""
    async with payee_channel(target, credentials) as channel:
        stub = ppb_grpc.PayeeStub(channel)
        try:
            return await stub.ReservePrice(
                ppb.ReservePriceRequest(info_hash=info_hash), timeout=timeout
            )
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND):  # type: ignore[attr-defined]
                return None
            raise


async def prove_possession(
    target: str,
    info_hash: str,
    proof: MarketProof,
    timeout: float = 5.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> Any:
    async with payee_channel(target, credentials) as channel:
        stub = ppb_grpc.PayeeStub(channel)
        request = ppb.ProvePossessionRequest(
            info_hash=info_hash,
            challenge_nonce=proof.challenge_nonce,
            piece=proof.piece,
            chunk=proof.chunk,
            chunk_sha256=proof.chunk_sha256,
        )
        return await stub.ProvePossession(request, timeout=timeout)
