"""A local TRON node speaking the java-tron HTTP API subset the bridge and tronpy use."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

from bridge.devnode.chain import BroadcastRefused, Chain, ChainConfig, Faults
from bridge.devnode.server import DevNode, running_devnode

__all__ = [
    "BroadcastRefused",
    "Chain",
    "ChainConfig",
    "DevNode",
    "Faults",
    "main",
    "running_devnode",
]


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def _non_negative(kind: type[int] | type[float]):  # type: ignore[no-untyped-def]
    def parse(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from exc
        if number < 0:
            raise argparse.ArgumentTypeError(f"must not be negative: {value!r}")
        return number

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="btt-devnode", description=__doc__)
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8090), help="HOST:PORT")
    p.add_argument("--data-dir", type=Path, required=True, help="directory for the chain")
    p.add_argument(
        "--block-interval", type=_non_negative(float), default=3.0, help="seconds, 0 = on demand"
    )
    p.add_argument("--solid-depth", type=_non_negative(int), default=19)
    return p


async def _serve(args: argparse.Namespace) -> None:
    host, port = args.listen
    node = DevNode(
        args.data_dir,
        host=host,
        port=port,
        block_interval=args.block_interval,
        solid_depth=args.solid_depth,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.start()
    print(f"devnode listening on {node.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except (OSError, sqlite3.Error) as exc:
        print(f"btt-devnode: {exc}", file=sys.stderr)
        return 1
    return 0
