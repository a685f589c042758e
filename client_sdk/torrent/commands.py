"""`btt seed` and `btt download`: paid seeding and downloading from the command line.

The lead wires `register(app)` into `client_sdk.cli`. Global options (--ledger, --wallet,
--password, --home, --json) come from the `btt` callback; amounts take BTT ("0.1") or base
units ("100000u").
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import libtorrent as lt
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from client_sdk.cli import CliError, format_btt, handled, parse_amount, state
from client_sdk.torrent.market.autobid import SpendingRate
from client_sdk.torrent.paid import (
    CloseMode,
    DownloadSummary,
    PaidDownloader,
    PaidSeeder,
    PaidSeederConfig,
    ProgressSnapshot,
)
from client_sdk.torrent.session import DEFAULT_PIECE_SIZE, create_torrent

DEFAULT_LISTEN = "127.0.0.1:6881"


def parse_listen(text: str) -> tuple[str, int]:
    """`ip:port` on an IP address (loopback in tests and the demo)."""
    host, sep, port = text.rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise CliError(f"invalid address {text!r}: expected ip:port") from None
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise CliError(f"invalid address {text!r}: expected ip:port")
    return host, int(port)


def parse_paid_peer(text: str) -> tuple[str, str]:
    """`bt_ip:port=payee_ip:port`."""
    bt, sep, payee = text.partition("=")
    if not sep:
        raise CliError(f"invalid --paid-peer {text!r}: expected bt_ip:port=payee_ip:port")
    parse_listen(bt)
    parse_listen(payee)
    return bt, payee


def _load_source(source: Path, piece_size: int, home: Path) -> tuple[lt.torrent_info, Path]:
    """A .torrent (its data beside it) or a file/directory to make a torrent for."""
    if not source.exists():
        raise CliError(f"no such file: {source}")
    if source.suffix == ".torrent":
        try:
            return lt.torrent_info(str(source)), source.resolve().parent
        except RuntimeError as exc:
            raise CliError(f"not a valid .torrent: {exc}") from None
    out = home / "torrents" / f"{source.name}.torrent"
    return create_torrent(source.resolve(), piece_size=piece_size, out=out), source.resolve().parent


def seed(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A file or directory, or a .torrent.")],
    listen: Annotated[str, typer.Option("--listen", help="BitTorrent ip:port.")] = DEFAULT_LISTEN,
    payee_port: Annotated[int, typer.Option("--payee-port", help="Payee gRPC port [free]")] = 0,
    reserve: Annotated[
        str, typer.Option("--reserve", help="Reserve price per piece (BTT or units).")
    ] = "0.001",
    slots: Annotated[int, typer.Option("--slots", help="Paid upload slots.")] = 4,
    window: Annotated[
        int, typer.Option("--window", help="Credit window in bytes (one piece: whitepaper).")
    ] = DEFAULT_PIECE_SIZE,
    choke_interval: Annotated[
        float, typer.Option("--choke-interval", help="Seconds between auction rounds.")
    ] = 10.0,
    piece_size: Annotated[int, typer.Option("--piece-size", help="For a new torrent.")] = (
        DEFAULT_PIECE_SIZE
    ),
    seconds: Annotated[
        float, typer.Option("--seconds", help="Stop after this long [until Ctrl-C].")
    ] = 0.0,
) -> None:
    """Seed for pay: libtorrent plus the payee service; channels close on exit."""
    handled(_seed)(
        ctx, source, listen, payee_port, reserve, slots, window, choke_interval, piece_size, seconds
    )


def _seed(
    ctx: typer.Context,
    source: Path,
    listen: str,
    payee_port: int,
    reserve: str,
    slots: int,
    window: int,
    choke_interval: float,
    piece_size: int,
    seconds: float,
) -> None:
    s = state(ctx)
    ip, port = parse_listen(listen)
    if slots < 0 or window < 0 or choke_interval <= 0:
        raise CliError("slots and window must be >= 0 and the choke interval > 0")
    config = PaidSeederConfig(
        paid_slots=slots,
        reserve=parse_amount(reserve, allow_zero=True),
        window=window,
        choke_interval=choke_interval,
    )
    ti, data = _load_source(source, piece_size, s.home)
    seeder = PaidSeeder(
        ip,
        s.wallet().signing_key,
        s.ledger,
        s.home / "payee.db",
        port=port,
        payee_port=payee_port,
        config=config,
    )
    try:
        ih = seeder.add(ti, data)
        target = seeder.start()
        info = {
            "info_hash": ih,
            "bt_endpoint": seeder.bt_endpoint,
            "payee": target,
            "paid_peer": f"{seeder.bt_endpoint}={target}",
            "magnet": lt.make_magnet_uri(ti),
        }
        s.emit(
            info,
            lambda c: c.print(
                f"seeding {ih}\nbittorrent {seeder.bt_endpoint}  payee {target}\n"
                f"download with: --paid-peer {info['paid_peer']}"
            ),
        )
        stop = threading.Event()
        # SIGTERM stops like Ctrl-C: channels still close with their best states.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(seconds if seconds > 0 else None)
        stats = seeder.stats()
    finally:
        seeder.stop()
    s.emit(
        {"stopped": True, **stats},
        lambda c: c.print(f"stopped; {len(stats['peers'])} payer(s), channels closed"),
    )


def download(
    ctx: typer.Context,
    torrent: Annotated[str, typer.Argument(help="A .torrent file or a magnet URI.")],
    budget: Annotated[str, typer.Option("--budget", help="Most BTT to lock in channels.")],
    listen: Annotated[str, typer.Option("--listen", help="BitTorrent ip:port.")] = ("127.0.0.1:0"),
    peer: Annotated[
        list[str] | None, typer.Option("--peer", help="A free peer ip:port (repeatable).")
    ] = None,
    paid_peer: Annotated[
        list[str] | None,
        typer.Option("--paid-peer", help="bt_ip:port=payee_ip:port (repeatable)."),
    ] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", help="Bid per piece (else autobid from the budget).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Download directory.")] = Path("."),
    close: Annotated[
        CloseMode, typer.Option("--close", help="cooperative: settle now; leave: payee closes.")
    ] = CloseMode.COOPERATIVE,
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after seconds.")] = 600.0,
    spending_rate: Annotated[
        int, typer.Option("--spending-rate", help="Autobid: percent of the budget to spend.")
    ] = 100,
    no_bid: Annotated[
        bool, typer.Option("--no-bid", help="Bidding off: plain BitTorrent, pay nobody.")
    ] = False,
) -> None:
    """Download, paying each paid peer per verified piece; free peers are used too."""
    if spending_rate < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--spending-rate")
    if no_bid:  # paid peers become plain peers; a seeder that serves only payers gives nothing
        peer = [*(peer or []), *(p.split("=", 1)[0] for p in paid_peer or [])]
        paid_peer, budget = [], "0"
    handled(_download)(
        ctx,
        torrent,
        budget,
        listen,
        peer or [],
        paid_peer or [],
        rate,
        out,
        close,
        timeout,
        SpendingRate.percent(spending_rate),
    )


def _download(
    ctx: typer.Context,
    torrent: str,
    budget: str,
    listen: str,
    peers: list[str],
    paid_peers: list[str],
    rate: str | None,
    out: Path,
    close: CloseMode,
    timeout: float,
    spending_rate: SpendingRate,
) -> None:
    s = state(ctx)
    ip, port = parse_listen(listen)
    source: lt.torrent_info | Path | str
    if torrent.startswith("magnet:"):
        source = torrent
    else:
        path = Path(torrent)
        if not path.is_file():
            raise CliError(f"no such .torrent file: {torrent}")
        source = path
    for p in peers:
        parse_listen(p)
    dl = PaidDownloader(
        key=s.wallet().signing_key,
        ledger_target=s.ledger,
        ip=ip,
        port=port,
        out_dir=out,
        source=source,
        budget=parse_amount(budget, allow_zero=True),
        seeders=[parse_paid_peer(p) for p in paid_peers],
        peers=peers,
        rate=parse_amount(rate) if rate is not None else None,
        spending_rate=spending_rate,
        store_path=s.home / "channels.db",
        close_mode=close,
        timeout=timeout,
    )
    summary = dl.run() if s.json else _with_bar(dl)
    _report(s, summary)
    if not summary.complete:
        raise CliError(f"download incomplete after {timeout:g}s")


def _with_bar(dl: PaidDownloader) -> DownloadSummary:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} pieces"),
        TextColumn("{task.fields[speed]}"),
        TextColumn("{task.fields[spent]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("download", total=None, speed="", spent="")

        def update(p: ProgressSnapshot) -> None:
            prices = ", ".join(f"{x.endpoint} {x.rate}u" for x in p.peers if x.paid)
            bar.update(
                task,
                total=p.pieces_total or None,
                completed=p.pieces_done,
                speed=f"{p.download_rate / 2**20:.1f} MiB/s",
                spent=f"{format_btt(p.spent)} spent" + (f" ({prices})" if prices else ""),
            )

        return dl.run(update)


def _report(s: Any, summary: DownloadSummary) -> None:
    def human(c: Any) -> None:
        c.print(
            f"{'complete' if summary.complete else 'incomplete'}: {summary.pieces} pieces in "
            f"{summary.seconds:.1f}s, spent {format_btt(summary.spent)} of "
            f"{format_btt(summary.budget)}"
        )
        for p in summary.peers:
            kind = f"paid {p.rate}u/piece" if p.paid else "free"
            c.print(f"  {p.endpoint:22} {kind:22} {p.pieces:6d} pieces {p.units:>12d}u  {p.note}")

    s.emit(summary.to_json(), human)


def register(app: typer.Typer) -> None:
    """Add `seed` and `download` to the `btt` app."""
    app.command("seed")(seed)
    app.command("download")(download)
