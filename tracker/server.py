"""The HTTP side: aiohttp routes `/announce`, `/scrape` and `/bidscrape` around `Swarms`.

Bad requests are answered like every tracker does: HTTP 200 with a bencoded `failure reason`
(clients show the reason; many ignore the body of other statuses). A peer's address is where its
request comes from (`ip`/`ipv4`/`ipv6` parameters are ignored, so nobody can list a third
party); IPv4-mapped IPv6 addresses of a dual-stack socket count as IPv4.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tracker import responses
from tracker.ratelimit import AddressRateLimiter, RateLimit
from tracker.requests import Rejected, parse_announce, parse_bidscrape, parse_scrape, query_pairs
from tracker.swarms import IpAddress, Swarms, TrackerLimits

Clock = Callable[[], float]
CONTENT_TYPE = "text/plain"


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    limits: TrackerLimits = field(default_factory=TrackerLimits)
    rate: RateLimit = field(default_factory=RateLimit)
    sweep_every: float | None = None
    """Seconds between sweeps of expired peers [a quarter of the interval, at most 60]."""


def make_app(config: TrackerConfig, *, clock: Clock = time.monotonic) -> web.Application:
    swarms = Swarms(config.limits)
    limiter = AddressRateLimiter(config.rate)
    sweep_every = config.sweep_every or min(60.0, config.limits.interval / 4)

    def admitted(request: web.Request) -> IpAddress | web.Response:
        address = remote_address(request)
        if address is None:
            return _answer(responses.failure("cannot tell your address"))
        if not limiter.allow(address.packed, clock()):
            return _answer(
                responses.failure("too many requests from your address", retry_in_minutes=1)
            )
        return address

    async def announce(request: web.Request) -> web.Response:
        address = admitted(request)
        if isinstance(address, web.Response):
            return address
        req = parse_announce(query_pairs(request.rel_url.raw_query_string))
        if isinstance(req, Rejected):
            return _answer(responses.failure(req.reason))
        result = swarms.announce(req, address, clock())
        if isinstance(result, Rejected):
            return _answer(responses.failure(result.reason, retry_in_minutes=5))
        return _answer(responses.announce(result, req))

    async def scrape(request: web.Request) -> web.Response:
        address = admitted(request)
        if isinstance(address, web.Response):
            return address
        pairs = query_pairs(request.rel_url.raw_query_string)
        req = parse_scrape(pairs, max_hashes=config.limits.max_scrape_hashes)
        if isinstance(req, Rejected):
            return _answer(responses.failure(req.reason))
        return _answer(responses.scrape(swarms.scrape(req, clock()), config.limits.min_interval))

    async def bidscrape(request: web.Request) -> web.Response:
        address = admitted(request)
        if isinstance(address, web.Response):
            return address
        pairs = query_pairs(request.rel_url.raw_query_string)
        req = parse_bidscrape(pairs, max_hashes=config.limits.max_scrape_hashes)
        if isinstance(req, Rejected):
            return _answer(responses.failure(req.reason))
        return _answer(responses.bidscrape(swarms.bidscrape(req, clock())))

    async def sweeper(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(sweep_every)
                swarms.expire(clock())

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app = web.Application()
    app[SWARMS] = swarms
    app.router.add_get("/announce", announce)
    app.router.add_get("/scrape", scrape)
    app.router.add_get("/bidscrape", bidscrape)
    app.cleanup_ctx.append(sweeper)
    return app


SWARMS = web.AppKey("swarms", Swarms)


def remote_address(request: web.Request) -> IpAddress | None:
    if request.remote is None:
        return None
    try:
        address = ipaddress.ip_address(request.remote)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=CONTENT_TYPE)


class TrackerServer:
    """The tracker on `host:port` (port 0 picks a free one) inside a running event loop."""

    def __init__(
        self,
        host: str,
        port: int,
        config: TrackerConfig | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.app = make_app(config or TrackerConfig(), clock=clock)
        self._runner: web.AppRunner | None = None

    @property
    def announce_url(self) -> str:
        return f"{self.base_url}/announce"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def swarms(self) -> Swarms:
        return self.app[SWARMS]

    async def start(self) -> str:
        runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=15)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self.announce_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve(
    host: str,
    port: int,
    config: TrackerConfig,
    on_ready: Callable[[TrackerServer], None],
    stop: asyncio.Event,
) -> None:
    """Run the tracker until `stop` is set; `on_ready` gets it once it listens."""
    server = TrackerServer(host, port, config)
    await server.start()
    try:
        on_ready(server)
        await stop.wait()
    finally:
        await server.stop()
