"""Assemble and run the ledger gRPC server: service, health, reflection, metrics, sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import Clock, SystemClock
from core.database import DEFAULT_TIMEOUT, is_sqlite, make_engine
from core.keepalive import Keepalive
from core.ratelimit import RateLimit, RateLimiter
from core.rpc import Metrics, RequestInterceptor
from ledger import metrics as ledger_metrics
from ledger.faucet import FaucetPolicy
from ledger.rpc.servicer import LedgerServicer, TreasuryServicer
from ledger.rpc.subscriptions import EventHub, Listen, StreamLimits
from ledger.service import LedgerService
from ledger.storage.migrate import upgrade
from ledger.storage.notify import FileBell
from ledger.storage.notify import listen as listen_for_events
from ledger.storage.store import Store

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["Ledger"].full_name,
    pb.DESCRIPTOR.services_by_name["Treasury"].full_name,
)


class ConfigError(ValueError):
    """A setting that cannot work; the message says which and why."""


def build_service(
    db_url: str,
    *,
    ledger_id: str | None = None,
    clock: Clock | None = None,
    challenge_window: int = 3600,
    migrate: bool | None = None,
    pool_size: int = 16,
    db_timeout: float = DEFAULT_TIMEOUT,
    faucet: FaucetPolicy | None = None,
) -> LedgerService:
    """Open the store (upgrading an embedded SQLite database on start) and pin the ledger id.

    `db_timeout`: seconds one transaction may take (less when the caller's deadline is sooner).
    """
    engine = make_engine(db_url, pool_size=pool_size, timeout=db_timeout)
    if migrate if migrate is not None else is_sqlite(db_url):
        upgrade(engine)
    store = Store(engine, timeout=db_timeout)
    with store.transaction() as tx:
        stored = tx.set_meta_once("ledger_id", ledger_id or f"btt-{uuid.uuid4().hex[:16]}")
        # Seals faucet challenges; pinned so every process and restart accepts the same ones.
        faucet_secret = tx.set_meta_once("faucet_secret", secrets.token_hex(32)) if faucet else ""
    if ledger_id and stored != ledger_id:
        raise ConfigError(
            f"this database belongs to ledger {stored!r}, not {ledger_id!r}: signatures are "
            "bound to the ledger id, so it cannot change"
        )
    return LedgerService(
        store,
        ledger_id=stored,
        clock=clock or SystemClock(),
        challenge_window=challenge_window,
        faucet_policy=faucet,
        faucet_secret=bytes.fromhex(faucet_secret),
    )


@dataclass
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None  # set: every client must present a certificate it signed

    def credentials(self) -> grpc.ServerCredentials:
        pair = [(self.key.read_bytes(), self.cert.read_bytes())]
        if self.client_ca is None:
            return grpc.ssl_server_credentials(pair)
        return grpc.ssl_server_credentials(
            pair, root_certificates=self.client_ca.read_bytes(), require_client_auth=True
        )


@dataclass
class RunningLedger:
    server: grpc.aio.Server
    port: int
    service: LedgerService
    metrics: Metrics
    executor: ThreadPoolExecutor
    hub: EventHub
    _closing: Callable[[], None]
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    treasury_server: grpc.aio.Server | None = None  # the Treasury on its own port
    treasury_port: int | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float = 2.0) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop(grace)
        if self.treasury_server is not None:
            await self.treasury_server.stop(grace)
        await self.hub.stop()
        self._closing()
        self.executor.shutdown(wait=True)

    async def wait(self) -> None:
        await self.server.wait_for_termination()


def _runner(executor: ThreadPoolExecutor) -> Callable[..., Awaitable[Any]]:
    """Runs a blocking call on the database pool (for the event hub)."""

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(fn, *args))

    return run


def _event_notices(service: LedgerService) -> tuple[Listen | None, Callable[[], None]]:
    """How this process hears of other processes' events, and how to stop telling them ours."""
    url = service.store.notify_url()
    if url is not None:  # PostgreSQL: whoever numbers events sends NOTIFY
        return functools.partial(listen_for_events, url), lambda: None
    path = service.store.sqlite_path()
    if path is None:  # an in-memory database has one process
        return None, lambda: None
    bell = FileBell(path)
    unring = service.bell.listen(bell.ring)

    def close() -> None:
        unring()
        bell.close()

    return bell.listen, close


async def _sweep_forever(
    service: LedgerService, executor: ThreadPoolExecutor, every: float
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            settled = await loop.run_in_executor(executor, service.sweep)
            if settled:
                log.info("swept expired channels", extra={"settled": settled})
        except Exception:
            log.exception("sweep failed; will retry")
        await asyncio.sleep(every)


def _health(server: grpc.aio.Server) -> health.aio.HealthServicer:
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


def _bind(server: grpc.aio.Server, listen: str, tls: TlsFiles | None) -> int:
    if tls is not None:
        port = server.add_secure_port(listen, tls.credentials())
    else:
        port = server.add_insecure_port(listen)
    if port == 0:
        raise ConfigError(f"cannot listen on {listen}")
    return port


async def start_server(
    service: LedgerService,
    listen: str = "127.0.0.1:0",
    *,
    treasury_token: str | None = None,
    tls: TlsFiles | None = None,
    metrics: Metrics | None = None,
    sweep_interval: float | None = 1.0,
    workers: int = 8,
    reuse_port: bool = False,
    stream_limits: StreamLimits | None = None,
    event_tick: float | None = None,
    treasury_listen: str | None = None,
    treasury_tls: TlsFiles | None = None,
    rate_limit: RateLimit | None = None,
    keepalive: Keepalive | None = None,
) -> RunningLedger:
    """`treasury_listen`: serve the Treasury there instead of beside the Ledger service, over
    `treasury_tls` (which may require client certificates) or `tls`. `rate_limit`: requests a
    second per client address (off when None); `keepalive`: how connections are probed and when
    idle ones are closed (Keepalive()'s defaults when None)."""
    metrics = metrics or Metrics()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledger-db")
    limiter = RateLimiter(rate_limit) if rate_limit is not None else None
    server = grpc.aio.server(
        interceptors=[RequestInterceptor(metrics, limiter=limiter)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            # Off unless several ledger processes share the port on purpose: otherwise a second
            # server on the same port would silently steal half the connections.
            ("grpc.so_reuseport", int(reuse_port)),
            *(keepalive or Keepalive()).options(),
        ],
    )
    notices, closing = _event_notices(service)
    hub = EventHub(service, _runner(executor), stream_limits, listen=notices, tick=event_tick)
    await hub.start()
    with contextlib.suppress(ValueError):  # a registry given twice has them already
        ledger_metrics.register(metrics.registry, service, hub)
    pb_grpc.add_LedgerServicer_to_server(LedgerServicer(service, executor, hub), server)
    treasury = TreasuryServicer(service, executor, treasury_token)
    names = SERVICE_NAMES if treasury_listen is None else SERVICE_NAMES[:1]
    if treasury_listen is None:
        pb_grpc.add_TreasuryServicer_to_server(treasury, server)
    health_servicer = _health(server)
    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = _bind(server, listen, tls)
    tserver, tport = None, None
    if treasury_listen is not None:
        tserver = grpc.aio.server(  # the bridge's port: authenticated, not rate-limited
            interceptors=[RequestInterceptor(metrics)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", int(reuse_port)),
                *(keepalive or Keepalive()).options(),
            ],
        )
        pb_grpc.add_TreasuryServicer_to_server(treasury, tserver)
        treasury_health = _health(tserver)
        tport = _bind(tserver, treasury_listen, treasury_tls or tls)
        await tserver.start()
        for name in ("", SERVICE_NAMES[1]):
            await treasury_health.set(name, health_pb2.HealthCheckResponse.SERVING)
    await server.start()
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    running = RunningLedger(server, port, service, metrics, executor, hub, closing)
    running.treasury_server, running.treasury_port = tserver, tport
    if sweep_interval:
        running._tasks.append(
            asyncio.create_task(_sweep_forever(service, executor, sweep_interval))
        )
    log.info("ledger serving", extra={"port": port, "ledger_id": service.ledger_id})
    return running
