"""Per-client request rate limits (RESOURCE_EXHAUSTED with a retry hint) and the cap on Subscribe
streams of one client address for one account filter, on a real gRPC server."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import ManualClock
from core.crypto import SigningKey
from core.ratelimit import RateLimit
from core.rejections import (
    RATE_LIMITED,
    RETRY_AFTER_METADATA_KEY,
    TOO_MANY_STREAMS,
    reason_of,
)
from ledger.embedded import serving_in_thread
from ledger.rpc.server import RunningLedger, build_service
from tests.tcprelay import relays

pytestmark = pytest.mark.timeout(90)


@contextlib.contextmanager
def ledger(sqlite_url: str, rate_limit: RateLimit | None = None) -> Iterator[RunningLedger]:
    service = build_service(sqlite_url, ledger_id="rates", clock=ManualClock(), migrate=True)
    try:
        with serving_in_thread(service, sweep_interval=None, rate_limit=rate_limit) as running:
            yield running
    finally:
        service.store.dispose()


def retry_hint(exc: grpc.RpcError) -> int:
    """The retry-after-ms trailer, checked against the number in the message."""
    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
    assert reason_of(exc) == RATE_LIMITED
    trailers = dict(exc.trailing_metadata() or ())  # type: ignore[attr-defined]
    ms = int(trailers[RETRY_AFTER_METADATA_KEY])
    found = re.search(r"retry after (\d+) ms", exc.details() or "")
    assert found is not None and int(found.group(1)) == ms, exc.details()
    return ms


def test_a_client_over_its_rate_is_told_when_to_retry_and_others_are_unaffected(
    sqlite_url: str,
) -> None:
    rate = RateLimit(rate=4, burst=3)
    with (
        ledger(sqlite_url, rate) as running,
        relays(running.target, ["127.0.0.2"]) as (other,),
        grpc.insecure_channel(running.target) as channel,
    ):
        stub = pb_grpc.LedgerStub(channel)
        for _ in range(3):  # the burst
            stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        with pytest.raises(grpc.RpcError) as over:
            stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        ms = retry_hint(over.value)
        assert 1 <= ms <= 250  # one token comes back every 1/4 s
        # A stream is a request too.
        with pytest.raises(grpc.RpcError) as stream_over:
            next(stub.Subscribe(pb.SubscribeRequest(), timeout=10))
        assert retry_hint(stream_over.value) >= 1
        # Health checks are never limited (an orchestrator's probe must not be refused).
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(5):
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # Another client address has its own bucket.
        with grpc.insecure_channel(other) as other_channel:
            other_stub = pb_grpc.LedgerStub(other_channel)
            for _ in range(3):
                other_stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        # Waiting as told is enough.
        with pytest.raises(grpc.RpcError) as again:
            stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        time.sleep(retry_hint(again.value) / 1000 + 0.01)
        assert stub.GetInfo(pb.GetInfoRequest(), timeout=10).ledger_id == "rates"
        calls = running.metrics.calls.labels("GetInfo", "RESOURCE_EXHAUSTED")
        assert calls._value.get() == 2
        rejected = running.metrics.rejections.labels("GetInfo", RATE_LIMITED)
        assert rejected._value.get() == 2


def test_no_rate_limit_by_default(sqlite_url: str) -> None:
    with ledger(sqlite_url) as running, grpc.insecure_channel(running.target) as channel:
        stub = pb_grpc.LedgerStub(channel)
        for _ in range(200):
            stub.GetInfo(pb.GetInfoRequest(), timeout=10)


def test_at_most_four_streams_per_client_address_for_one_account(sqlite_url: str) -> None:
    account, other_account = (SigningKey.generate().address for _ in range(2))
    with ledger(sqlite_url) as running, relays(running.target, ["127.0.0.2"]) as (other,):
        hub = running.hub
        opened: list[tuple[grpc.Channel, Iterator[pb.Event]]] = []

        def open_stream(target: str, account: str) -> Iterator[pb.Event]:
            channel = grpc.insecure_channel(target)
            stream = pb_grpc.LedgerStub(channel).Subscribe(
                pb.SubscribeRequest(account=account, only_new=True), timeout=60
            )
            opened.append((channel, stream))
            return stream

        def wait_for(streams: int) -> None:
            deadline = time.monotonic() + 20
            while hub.streams < streams and time.monotonic() < deadline:
                time.sleep(0.02)
            assert hub.streams == streams

        try:
            for _ in range(4):
                open_stream(running.target, account)
            wait_for(4)
            with pytest.raises(grpc.RpcError) as fifth:
                next(open_stream(running.target, account))
            assert fifth.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert reason_of(fifth.value) == TOO_MANY_STREAMS
            assert "for one filter" in (fifth.value.details() or "")
            # Another filter from the same address, and the same filter from another address.
            open_stream(running.target, other_account)
            open_stream(other, account)
            wait_for(6)
            # A stream that ends frees its place.
            _, first = opened[0]
            first.cancel()  # type: ignore[attr-defined]
            deadline = time.monotonic() + 10
            while hub.streams > 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            open_stream(running.target, account)
            wait_for(6)
        finally:
            for channel, stream in opened:
                stream.cancel()  # type: ignore[attr-defined]
                channel.close()
