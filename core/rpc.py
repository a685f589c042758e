"""What every RPC of our gRPC servers (the ledger, the payee service) goes through, unary and
streaming alike.

In order: a request id for every log line of the call, metrics and one log line per call, the
per-client rate limit (RESOURCE_EXHAUSTED / RATE_LIMITED with a `retry-after-ms` trailer), a
refusal of request bodies that do not parse (INVALID_ARGUMENT / MALFORMED, logged quietly: a
client sending garbage must not fill the log), and a last-resort INTERNAL for anything a
servicer let escape (never gRPC's UNKNOWN with our exception text).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core import wirecheck
from core.logs import request_id
from core.ratelimit import RateLimiter, client_address
from core.rejections import (
    ERROR_DOMAIN,
    RATE_LIMITED,
    REASON_METADATA_KEY,
    RETRY_AFTER_METADATA_KEY,
    Rejection,
)

log = logging.getLogger("btt.rpc")
GRPC_DETAILS_METADATA_KEY = "grpc-status-details-bin"
# Set by the servicer when it rejects a request; read here for metrics and logs.
rejection_reason: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rejection_reason", default=None
)

Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.calls = Counter(
            "btt_rpc_calls", "RPCs handled", ["method", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "btt_rpc_latency_seconds",
            "RPC latency (streams: until the stream ends)",
            ["method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.rejections = Counter(
            "btt_rpc_rejections", "Rejected requests", ["method", "reason"], registry=self.registry
        )
        self.in_flight = Gauge(
            "btt_rpc_in_flight",
            "RPCs being served now (streams: open streams)",
            ["method"],
            registry=self.registry,
        )
        self.stream_messages = Counter(
            "btt_rpc_stream_messages",
            "Messages on streaming RPCs",
            ["method", "direction"],
            registry=self.registry,
        )


@dataclass(frozen=True, slots=True)
class StatusError:
    """What a servicer aborts with: code, message and trailers carrying the reason."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]

    async def abort(self, context: grpc.aio.ServicerContext) -> None:
        context.set_trailing_metadata(self.trailing_metadata)
        await context.abort(self.code, self.message)


def refusal(
    code: grpc.StatusCode, reason: str, message: str, *, retry_after: float | None = None
) -> StatusError:
    """A status whose message starts with the stable reason, which also travels as the
    `btt-reason` trailer and as a google.rpc ErrorInfo (plus RetryInfo when worth retrying)."""
    details = [error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)]
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(timedelta(seconds=retry_after))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    text = f"{reason}: {message}"
    status = status_pb2.Status(code=code.value[0], message=text, details=packed)
    return StatusError(
        code=code,
        message=text,
        trailing_metadata=(
            (GRPC_DETAILS_METADATA_KEY, status.SerializeToString()),
            (REASON_METADATA_KEY, reason),
        ),
    )


@dataclass(frozen=True, slots=True)
class Malformed:
    """Stands in for a request body that did not parse; the handler answers MALFORMED."""

    message: str


class QuietLog:
    """At most one line per `interval` seconds, with a count of the lines it held back."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._next = 0.0
        self._held = 0

    def warning(self, message: str, **fields: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        self._next = now + self.interval
        held, self._held = self._held, 0
        self.logger.warning(message, extra={**fields, "suppressed": held})


class ClientLeftFilter(logging.Filter):
    """gRPC core logs an ERROR with a traceback when a reply cannot be sent because the client
    already left (cancelled, or its deadline passed while the servicer worked). That is the
    client's business, not a server fault: one DEBUG line without the traceback instead."""

    MARK = "ExecuteBatchError raised in core by servicer method"

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.MARK not in message:
            return True
        method = message.rsplit("[", 1)[-1].rstrip("]")
        record.msg, record.args = "reply not delivered: the client left (%s)", (method,)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("btt.rpc").isEnabledFor(logging.DEBUG)


def quiet_client_departures() -> None:
    """Install ClientLeftFilter on gRPC's server logger, once."""
    grpc_log = logging.getLogger("grpc._cython.cygrpc")
    if not any(isinstance(f, ClientLeftFilter) for f in grpc_log.filters):
        grpc_log.addFilter(ClientLeftFilter())


def _parser(deserialize: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        if deserialize is None:
            return data
        try:
            message = deserialize(data)
            wirecheck.check(data, message)
        except DecodeError:
            return Malformed(f"request body of {method} does not parse")
        except wirecheck.WireError as exc:
            return Malformed(str(exc))
        return message

    return parse


def _code_name(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    try:
        return grpc.StatusCode(code).name  # type: ignore[call-arg]
    except Exception:
        return str(code)


class _CountedWrites:
    """A servicer context whose writes (a handler streaming with context.write) are counted."""

    def __init__(self, context: grpc.aio.ServicerContext, metrics: Metrics, method: str) -> None:
        self._context = context
        self._sent = metrics.stream_messages.labels(method, "sent")

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._sent.inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class RequestInterceptor(grpc.aio.ServerInterceptor):
    """Request ids, logs, optional metrics, the per-client rate limit and the malformed-body
    guard for every method (health checks and reflection are never rate limited)."""

    UNLIMITED = ("/grpc.health.", "/grpc.reflection.")

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        logger: logging.Logger = log,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.metrics = metrics
        self.log = logger
        self.quiet = QuietLog(logger)
        self.limiter = limiter if limiter is not None and limiter.limit.enabled else None
        quiet_client_departures()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full = handler_call_details.method
        method = full.rsplit("/", 1)[-1]
        parse = _parser(handler.request_deserializer, method)
        serialize = handler.response_serializer
        limited = self.limiter is not None and not full.startswith(self.UNLIMITED)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary, limited=limited), parse, serialize
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(
                    method, handler.unary_stream, request_stream=False, limited=limited
                ),
                parse,
                serialize,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary, request_stream=True, limited=limited),
                parse,
                serialize,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(method, handler.stream_stream, request_stream=True, limited=limited),
            parse,
            serialize,
        )

    # ------------------------------------------------------------ per call
    def _begin(self) -> float:
        # Each call runs in its own task, so these never leak into another call.
        rejection_reason.set(None)
        request_id.set(uuid.uuid4().hex[:12])
        return time.perf_counter()

    def _started(self, method: str, context: grpc.aio.ServicerContext) -> None:
        if self.metrics is not None:
            self.metrics.in_flight.labels(method).inc()
        self.log.debug("rpc started", extra={"method": method, "peer": context.peer()})

    def _end(self, method: str, start: float, code: str) -> None:
        elapsed = time.perf_counter() - start
        reason = rejection_reason.get()
        if self.metrics is not None:
            self.metrics.in_flight.labels(method).dec()
            self.metrics.calls.labels(method, code).inc()
            self.metrics.latency.labels(method).observe(elapsed)
            if reason:
                self.metrics.rejections.labels(method, reason).inc()
        # A flood of refused calls is counted, and logged quietly by _limit, not line by line.
        self.log.log(
            logging.DEBUG if reason == RATE_LIMITED else logging.INFO,
            "rpc",
            extra={
                "method": method,
                "code": code,
                "reason": reason or "",
                "ms": round(elapsed * 1000, 3),
            },
        )

    async def _refuse(self, method: str, context: grpc.aio.ServicerContext, bad: Malformed) -> None:
        rejection_reason.set(Rejection.MALFORMED.value)
        self.quiet.warning(
            "unparseable request refused", method=method, peer=context.peer(), detail=bad.message
        )
        malformed = refusal(
            grpc.StatusCode.INVALID_ARGUMENT, Rejection.MALFORMED.value, bad.message
        )
        await malformed.abort(context)

    async def _limit(self, method: str, context: grpc.aio.ServicerContext) -> None:
        """Refuse the call when its client address is over its request rate."""
        assert self.limiter is not None
        client = client_address(context.peer())
        wait = self.limiter.take(client, time.monotonic())
        if wait <= 0:
            return
        rejection_reason.set(RATE_LIMITED)
        ms = max(1, math.ceil(wait * 1000))
        self.quiet.warning("request rate limited", method=method, client=client, retry_ms=ms)
        limit = self.limiter.limit
        refused = refusal(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            RATE_LIMITED,
            f"over {limit.rate:g} requests a second (burst {limit.burst}) from this client "
            f"address; retry after {ms} ms",
            retry_after=ms / 1000,
        )
        context.set_trailing_metadata(
            (*refused.trailing_metadata, (RETRY_AFTER_METADATA_KEY, str(ms)))
        )
        await context.abort(refused.code, refused.message)

    async def _internal(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.log.exception("internal error", extra={"method": method})
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _requests(
        self, method: str, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async def checked() -> AsyncIterator[Any]:
            async for item in requests:
                if isinstance(item, Malformed):
                    await self._refuse(method, context, item)
                if self.metrics is not None:
                    self.metrics.stream_messages.labels(method, "received").inc()
                yield item

        return checked()

    def _outcome(self, context: grpc.aio.ServicerContext, exc: BaseException | None) -> str:
        if exc is None or isinstance(exc, grpc.aio.AbortError):
            return _code_name(context)
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return "DEADLINE_EXCEEDED"
        # gRPC cancels the handler's task when the client goes away, sometimes before the
        # context says so.
        if isinstance(exc, asyncio.CancelledError) or context.cancelled() or context.done():
            return "CANCELLED"
        return "INTERNAL"

    def _unary(
        self, method: str, inner: Behavior, *, request_stream: bool = False, limited: bool = False
    ) -> Behavior:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = self._begin()
            failure: BaseException | None = None
            self._started(method, context)
            try:
                if limited:
                    await self._limit(method, context)
                if request_stream:
                    request = self._requests(method, request, context)
                elif isinstance(request, Malformed):
                    await self._refuse(method, context, request)
                try:
                    return await inner(request, context)
                except grpc.aio.AbortError as exc:
                    failure = exc
                    raise
                except Exception as exc:
                    failure = exc
                    if context.done():
                        return None  # the call ended (deadline, client gone): nobody to answer
                    await self._internal(method, context)
            except BaseException as exc:
                failure = failure or exc
                raise
            finally:
                self._end(method, start, self._outcome(context, failure))

        return call

    def _streaming(
        self, method: str, inner: Behavior, *, request_stream: bool, limited: bool = False
    ) -> Behavior:
        # Writes with context.write, not by yielding: a write that fails because the call ended
        # (deadline, client gone) then raises here, where it is expected, instead of in gRPC.
        async def call(request: Any, context: grpc.aio.ServicerContext) -> None:
            start = self._begin()
            failure: BaseException | None = None
            self._started(method, context)
            try:
                if limited:
                    await self._limit(method, context)
                if request_stream:
                    request = self._requests(method, request, context)
                elif isinstance(request, Malformed):
                    await self._refuse(method, context, request)
                try:
                    counted = (
                        _CountedWrites(context, self.metrics, method) if self.metrics else None
                    )
                    result = inner(request, counted or context)
                    if hasattr(result, "__aiter__"):
                        async with contextlib.aclosing(result) as items:
                            async for item in items:
                                await context.write(item)
                                if self.metrics is not None:
                                    self.metrics.stream_messages.labels(method, "sent").inc()
                    else:
                        await result
                except grpc.aio.AbortError as exc:
                    failure = exc
                    raise
                except Exception as exc:
                    failure = exc
                    if context.done():
                        return  # the call ended (deadline, client gone): nobody to answer
                    await self._internal(method, context)
            except BaseException as exc:
                failure = failure or exc
                raise
            finally:
                self._end(method, start, self._outcome(context, failure))

        return call
