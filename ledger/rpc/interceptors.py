"""Cross-cutting concerns for every RPC: request ids, structured logs and Prometheus metrics."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger("ledger.rpc")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Set by the servicer when it rejects a request; read here for metrics and logs.
rejection_reason: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rejection_reason", default=None
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.calls = Counter(
            "btt_rpc_calls", "RPCs handled", ["method", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "btt_rpc_latency_seconds",
            "RPC latency",
            ["method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.rejections = Counter(
            "btt_rpc_rejections", "Rejected requests", ["method", "reason"], registry=self.registry
        )


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


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary
        metrics = self.metrics

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            rid = uuid.uuid4().hex[:12]
            token = request_id.set(rid)
            rejection_reason.set(None)
            start = time.perf_counter()
            try:
                return await inner(request, context)
            finally:
                elapsed = time.perf_counter() - start
                code = _code_name(context)
                reason = rejection_reason.get()
                metrics.calls.labels(method, code).inc()
                metrics.latency.labels(method).observe(elapsed)
                if reason:
                    metrics.rejections.labels(method, reason).inc()
                log.info(
                    "rpc",
                    extra={
                        "request_id": rid,
                        "method": method,
                        "code": code,
                        "reason": reason or "",
                        "ms": round(elapsed * 1000, 3),
                    },
                )
                request_id.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
