"""`btt tracker`: run the HTTP tracker with the bid extensions."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import signal
from typing import Annotated

import typer
from rich.console import Console

from tracker.ratelimit import RateLimit
from tracker.server import TrackerConfig, TrackerServer, serve
from tracker.swarms import TrackerLimits

DEFAULT_LISTEN = "127.0.0.1:6969"


class ListenError(ValueError):
    pass


def parse_listen(text: str) -> tuple[str, int]:
    """`ip:port` or `[ipv6]:port`; port 0 picks a free one."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ListenError(f"invalid --listen {text!r}: expected ip:port or [ipv6]:port") from None
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ListenError(f"invalid --listen {text!r}: expected ip:port or [ipv6]:port")
    return host, int(port)


def register(app: typer.Typer) -> None:
    @app.command("tracker")
    def tracker(
        ctx: typer.Context,
        listen: Annotated[
            str, typer.Option("--listen", help="ip:port, IPv6 in brackets; port 0: any.")
        ] = DEFAULT_LISTEN,
        interval: Annotated[
            int, typer.Option("--interval", help="Seconds between a client's announces.")
        ] = 1800,
        min_interval: Annotated[
            int, typer.Option("--min-interval", help="Seconds clients must wait at least.")
        ] = 60,
        peer_timeout: Annotated[
            int | None,
            typer.Option("--peer-timeout", help="Forget a silent peer after [1.5 x interval]."),
        ] = None,
        max_torrents: Annotated[int, typer.Option("--max-torrents")] = 100_000,
        max_peers: Annotated[int, typer.Option("--max-peers", help="Peers in all torrents.")] = (
            1_000_000
        ),
        max_per_address: Annotated[
            int, typer.Option("--max-per-address", help="Peers one IP address may hold.")
        ] = 2_000,
        rate: Annotated[
            float, typer.Option("--rate", help="Requests per second per address, sustained.")
        ] = 1.0,
        burst: Annotated[int, typer.Option("--burst", help="Requests per address at once.")] = 30,
    ) -> None:
        """Run an HTTP tracker (BEP 3, 23, 7) with bidannounce and bidscrape, in memory."""
        as_json = bool(getattr(ctx.obj, "json", False))
        err = Console(stderr=True, highlight=False)
        try:
            host, port = parse_listen(listen)
            config = TrackerConfig(
                limits=TrackerLimits(
                    interval=interval,
                    min_interval=min_interval,
                    peer_timeout=peer_timeout,
                    max_torrents=max_torrents,
                    max_peers=max_peers,
                    max_peers_per_address=max_per_address,
                ),
                rate=RateLimit(per_second=rate, burst=burst),
            )
            asyncio.run(_run(host, port, config, as_json))
        except (ValueError, OSError) as exc:
            err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None


async def _run(host: str, port: int, config: TrackerConfig, as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(server: TrackerServer) -> None:
        info = {
            "announce": server.announce_url,
            "scrape": f"{server.base_url}/scrape",
            "bidscrape": f"{server.base_url}/bidscrape",
            "interval": config.limits.interval,
        }
        if as_json:
            print(json.dumps(info, sort_keys=True), flush=True)
        else:
            print(
                f"tracker listening; announce URL {info['announce']}\n"
                f"interval {config.limits.interval}s, peers forgotten after "
                f"{config.limits.timeout}s; Ctrl-C stops",
                flush=True,
            )

    await serve(host, port, config, ready, stop)
