"""`btt bids --tracker URL`: what a tracker's `bidscrape` says, for a person or a script."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from client_sdk.tracker.client import TrackerClient
from client_sdk.tracker.wire import TorrentBids, TrackerError


def parse_info_hash(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise TrackerError(f"invalid info hash {text!r}: expected 40 hex characters")
    return raw


async def fetch_bids(
    tracker: str, info_hashes: list[bytes], limit: int | None, timeout: float
) -> list[TorrentBids]:
    async with TrackerClient(timeout=timeout) as client:
        return await client.bidscrape(tracker, info_hashes, limit)


def register(app: typer.Typer) -> None:
    from client_sdk.clikit import format_btt, handled, state

    @app.command("bids")
    @handled
    def bids(
        ctx: typer.Context,
        tracker: Annotated[str, typer.Option("--tracker", help="The tracker's announce URL.")],
        info_hash: Annotated[
            list[str] | None,
            typer.Option("--info-hash", help="Only this torrent (hex, repeatable)."),
        ] = None,
        limit: Annotated[
            int | None, typer.Option("--limit", min=1, help="At most this many torrents.")
        ] = None,
    ) -> None:
        """Torrents with recent bids on a tracker (bidscrape): who wants bandwidth, at what bid."""
        s = state(ctx)
        try:
            hashes = [parse_info_hash(h) for h in info_hash or []]
            found = asyncio.run(fetch_bids(tracker, hashes, limit, s.timeout))
        except TrackerError as exc:
            raise ValueError(str(exc)) from None
        rows = [
            {"info_hash": t.info_hash, "highest": t.highest, "count": t.count, "age": t.age}
            for t in found
        ]

        def human(c: Console) -> None:
            if not rows:
                c.print(f"no recent bids on {tracker}")
                return
            table = Table("info hash", "highest bid", "bids", "age")
            for t in found:
                table.add_row(
                    t.info_hash, f"{format_btt(t.highest)}/piece", str(t.count), f"{t.age}s"
                )
            c.print(table)

        s.emit({"tracker": tracker, "torrents": rows}, human)
