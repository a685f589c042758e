"""`btt seed` and `btt download`: paid seeding and downloading from the command line.

Registered on the `btt` app by `client_sdk.cli.register_commands`. Global options (--ledger,
--wallet, --password, --home, --json) come from the `btt` callback; amounts take BTT ("0.1") or
base units ("100000u").
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import libtorrent as lt
import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from client_sdk.clikit import (
    CliError,
    State,
    format_btt,
    handled,
    parse_amount,
    state,
    tls_hint,
)
from client_sdk.ledger_client import LedgerUnavailable
from client_sdk.torrent.access import LegacyPeers
from client_sdk.torrent.control_cmd import control, default_socket, usable_socket
from client_sdk.torrent.market.autobid import SpendingRate
from client_sdk.torrent.paid import (
    CloseMode,
    DownloadsSummary,
    PaidDownloader,
    PaidSeeder,
    PaidSeederConfig,
    ProgressSnapshot,
    Wanted,
)
from client_sdk.torrent.paid.control import ControlError
from client_sdk.torrent.session import DEFAULT_PIECE_SIZE, create_torrent
from client_sdk.torrent.views import ban_lines, download_table, payer_table, peers_table

DEFAULT_LISTEN = "127.0.0.1:6881"

T = TypeVar("T")


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


def _load_source(
    source: Path, piece_size: int, home: Path, trackers: Sequence[str]
) -> tuple[lt.torrent_info, Path, Path]:
    """A .torrent (its data beside it) or a file/directory to make a torrent for, naming
    `trackers`. Returns the torrent, its data directory and the .torrent's path."""
    if not source.exists():
        raise CliError(f"no such file: {source}")
    if source.suffix == ".torrent":
        try:
            return lt.torrent_info(str(source)), source.resolve().parent, source.resolve()
        except RuntimeError as exc:
            raise CliError(f"not a valid .torrent: {exc}") from None
    out = home / "torrents" / f"{source.name}.torrent"
    ti = create_torrent(source.resolve(), piece_size=piece_size, out=out, trackers=trackers)
    return ti, source.resolve().parent, out


def _per_source(values: list[T], count: int, what: str) -> list[T]:
    """One value for every source, or one per source in order."""
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise CliError(f"give one {what} for all sources or one per source ({count})")
    return values


def _check_tracker(url: str) -> str:
    if not url.startswith(("http://", "https://", "udp://")) or "/" not in url.split("//", 1)[1]:
        raise CliError(
            f"invalid tracker {url!r}: expected an announce URL like http://host:port/announce"
        )
    return url


def _check_ledger(s: State) -> None:
    """Fail fast, in one line, when the ledger cannot be reached, before any slow work."""
    try:
        with s.client(signed=False) as client:
            client.get_info()
    except LedgerUnavailable as exc:
        hint = tls_hint(exc, s.ca_cert)
        raise CliError(f"cannot reach the ledger at {s.ledger}: {exc.message}{hint}") from None


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise CliError(f"{what} {path} is not a PEM file")
    return data


def _payee_server_tls(cert: Path | None, key: Path | None) -> grpc.ServerCredentials | None:
    if (cert is None) != (key is None):
        raise CliError("--payee-cert and --payee-key go together")
    if cert is None or key is None:
        return None
    pair = (_read_pem(key, "--payee-key"), _read_pem(cert, "--payee-cert"))
    return grpc.ssl_server_credentials([pair])


def _payee_client_tls(ca_cert: Path | None) -> grpc.ChannelCredentials | None:
    if ca_cert is None:
        return None
    return grpc.ssl_channel_credentials(_read_pem(ca_cert, "--payee-ca-cert"))


@dataclass(frozen=True)
class _SeedOptions:
    sources: list[Path]
    listen: str
    payee_port: int
    reserves: list[str]
    trackers: list[str]
    legacy_peers: LegacyPeers
    dht: bool
    slots: int
    upload_limit: int
    window: int
    choke_interval: float
    piece_size: int
    seconds: float
    payee_cert: Path | None
    payee_key: Path | None


def seed(
    ctx: typer.Context,
    sources: Annotated[
        list[Path], typer.Argument(help="Files or directories, or .torrent files (data beside).")
    ],
    listen: Annotated[str, typer.Option("--listen", help="BitTorrent ip:port.")] = DEFAULT_LISTEN,
    payee_port: Annotated[
        int, typer.Option("--payee-port", min=0, max=65535, help="Payee gRPC port [free]")
    ] = 0,
    reserve: Annotated[
        list[str] | None,
        typer.Option(
            "--reserve",
            help="Reserve price per piece (BTT or units): one for all, or one per source.",
        ),
    ] = None,
    tracker: Annotated[
        list[str] | None,
        typer.Option("--tracker", help="Announce URL, put into new torrents (repeatable)."),
    ] = None,
    legacy_peers: Annotated[
        LegacyPeers,
        typer.Option(
            "--legacy-peers",
            help="Peers that never bid: serve (optimistic slot + unsold paid slots), "
            "optimistic (that slot only) or block.",
        ),
    ] = LegacyPeers.SERVE,
    dht: Annotated[bool, typer.Option("--dht", help="Use the DHT too (public swarms).")] = False,
    slots: Annotated[int, typer.Option("--slots", help="Paid upload slots per torrent.")] = 4,
    upload_limit: Annotated[
        int, typer.Option("--upload-limit", help="Bytes/s for all uploads (0: unlimited).")
    ] = 0,
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
    payee_cert: Annotated[
        Path | None,
        typer.Option("--payee-cert", help="Serve the payee service over TLS: certificate (PEM)."),
    ] = None,
    payee_key: Annotated[
        Path | None, typer.Option("--payee-key", help="Its private key (PEM).")
    ] = None,
) -> None:
    """Seed for pay: libtorrent plus the payee service; channels close on exit."""
    handled(_seed)(
        ctx,
        _SeedOptions(
            sources=sources,
            listen=listen,
            payee_port=payee_port,
            reserves=reserve or ["0.001"],
            trackers=[_check_tracker(t) for t in tracker or []],
            legacy_peers=legacy_peers,
            dht=dht,
            slots=slots,
            upload_limit=upload_limit,
            window=window,
            choke_interval=choke_interval,
            piece_size=piece_size,
            seconds=seconds,
            payee_cert=payee_cert,
            payee_key=payee_key,
        ),
    )


def _seed(ctx: typer.Context, o: _SeedOptions) -> None:
    s = state(ctx)
    ip, port = parse_listen(o.listen)
    if o.slots < 0 or o.window < 0 or o.upload_limit < 0 or o.choke_interval <= 0:
        raise CliError("slots, window and upload limit must be >= 0, the choke interval > 0")
    reserves = [
        parse_amount(r, allow_zero=True)
        for r in _per_source(o.reserves, len(o.sources), "--reserve")
    ]
    payee_tls = _payee_server_tls(o.payee_cert, o.payee_key)
    _check_ledger(s)  # before the password prompt: fail fast
    key = s.wallet().signing_key
    loaded = [_load_source(src, o.piece_size, s.home, o.trackers) for src in o.sources]
    config = PaidSeederConfig(
        paid_slots=o.slots,
        upload_limit=o.upload_limit,
        window=o.window,
        choke_interval=o.choke_interval,
        legacy_peers=o.legacy_peers,
        dht=o.dht,
    )
    seeder = PaidSeeder(
        ip,
        key,
        s.ledger,
        s.home / "payee.db",
        port=port,
        payee_port=o.payee_port,
        config=config,
        ledger_ca_cert=s.ca_cert,
        payee_credentials=payee_tls,
    )
    try:
        torrents: list[dict[str, Any]] = []
        for (ti, data, path), units in zip(loaded, reserves, strict=True):
            ih = seeder.add(ti, data, reserve=units, trackers=o.trackers)
            torrents.append(
                {
                    "info_hash": ih,
                    "name": ti.name(),
                    "torrent": str(path),
                    "magnet": seeder.magnet(ih),
                    "reserve": units,
                    "size": ti.total_size(),
                }
            )
        target = seeder.start()
        info = {
            **{k: torrents[0][k] for k in ("info_hash", "torrent", "magnet")},
            "torrents": torrents,
            "bt_endpoint": seeder.bt_endpoint,
            "payee": target,
            "paid_peer": f"{seeder.bt_endpoint}={target}",
            "trackers": o.trackers,
            "legacy_peers": o.legacy_peers.value,
        }

        def human(c: Any) -> None:
            # soft_wrap: paths and magnets stay whole lines, to copy, at any width.
            for t in torrents:
                c.print(
                    f"seeding {t['name']} ({t['info_hash']}), reserve {format_btt(t['reserve'])}"
                    f"/piece\n  torrent {t['torrent']}\n  magnet  {t['magnet']}",
                    soft_wrap=True,
                )
            c.print(f"bittorrent {seeder.bt_endpoint}  payee {target}", soft_wrap=True)
            if o.trackers:
                c.print(f"announced to {', '.join(o.trackers)}", soft_wrap=True)
            else:
                c.print(
                    f"no tracker: download with --paid-peer {info['paid_peer']}", soft_wrap=True
                )

        s.emit(info, human)
        stop = threading.Event()
        # SIGTERM stops like Ctrl-C: channels still close with their best states.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            if s.json:
                stop.wait(o.seconds if o.seconds > 0 else None)
            else:
                _watch_payers(seeder, stop, o.seconds)
        stats = seeder.stats()
    finally:
        seeder.stop()

    def stopped(c: Any) -> None:
        c.print(payer_table(stats, "payers at the end"))
        for line in ban_lines(stats["bans"]):
            c.print(line)
        c.print(
            f"stopped; {len(stats['peers'])} payer(s), earned {format_btt(stats['units_earned'])}"
            ", channels closed"
        )

    s.emit({"stopped": True, **stats}, stopped)


def _watch_payers(seeder: PaidSeeder, stop: threading.Event, seconds: float) -> None:
    """Until stopped: the payers' table, live (rate, pieces served, earned, exposure now)."""
    deadline = time.monotonic() + seconds if seconds > 0 else None
    with Live(payer_table(seeder.stats()), refresh_per_second=2, transient=True) as live:
        while not stop.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                return
            live.update(payer_table(seeder.stats()))


def download(
    ctx: typer.Context,
    torrents: Annotated[
        list[str], typer.Argument(help=".torrent files or magnet URIs (several: one session).")
    ],
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget", help="Most BTT to lock in channels, for all torrents (not with --no-bid)."
        ),
    ] = None,
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
        list[int] | None,
        typer.Option(
            "--spending-rate",
            help="Autobid: percent of the budget to spend; one for all torrents or one per "
            "torrent (0: bidding off for that torrent).",
        ),
    ] = None,
    no_bid: Annotated[
        bool, typer.Option("--no-bid", help="Bidding off: plain BitTorrent, pay nobody.")
    ] = False,
    dht: Annotated[bool, typer.Option("--dht", help="Use the DHT too (public swarms).")] = False,
    payee_ca_cert: Annotated[
        Path | None,
        typer.Option(
            "--payee-ca-cert",
            help="Reach paid seeders' payee services over TLS, trusting this CA (PEM).",
        ),
    ] = None,
    control_socket: Annotated[
        Path | None,
        typer.Option(
            "--control", help="Control socket for `btt control` (default: <home>/ctl/<pid>.sock)."
        ),
    ] = None,
) -> None:
    """Download, paying each paid peer per verified piece; free peers are used too. Peers come
    from the torrents' trackers (paid seeders announce their payee service there), --peer and
    --paid-peer, and the DHT with --dht."""
    rates = spending_rate or [100]
    if any(r < 0 for r in rates):
        raise typer.BadParameter("must be >= 0", param_hint="--spending-rate")
    if no_bid:  # paid peers become plain peers; a seeder that serves only payers gives nothing
        peer = [*(peer or []), *(p.split("=", 1)[0] for p in paid_peer or [])]
        paid_peer, budget, rates = [], "0", [0]
    elif budget is None:
        raise typer.BadParameter(
            "give the most BTT to lock in channels, or --no-bid to pay nobody",
            param_hint="'--budget'",
        )
    handled(_download)(
        ctx,
        _DownloadOptions(
            torrents=torrents,
            budget=budget,
            listen=listen,
            peers=peer or [],
            paid_peers=paid_peer or [],
            rate=rate,
            out=out,
            close=close,
            timeout=timeout,
            spending_rates=rates,
            dht=dht,
            payee_ca_cert=payee_ca_cert,
            control=control_socket,
        ),
    )


@dataclass(frozen=True)
class _DownloadOptions:
    torrents: list[str]
    budget: str
    listen: str
    peers: list[str]
    paid_peers: list[str]
    rate: str | None
    out: Path
    close: CloseMode
    timeout: float
    spending_rates: list[int]
    dht: bool
    payee_ca_cert: Path | None
    control: Path | None = None


def _wanted(torrent: str, spending_rate: int) -> Wanted:
    source: lt.torrent_info | str
    if torrent.startswith("magnet:"):
        source = torrent
    else:
        path = Path(torrent)
        if not path.is_file():
            raise CliError(f"no such .torrent file: {torrent}")
        try:
            source = lt.torrent_info(str(path))
        except RuntimeError as exc:
            raise CliError(f"{torrent} is not a .torrent file ({exc})") from None
    return Wanted(
        source, bidding=spending_rate > 0, spending_rate=SpendingRate.percent(spending_rate)
    )


def _download(ctx: typer.Context, o: _DownloadOptions) -> None:
    s = state(ctx)
    ip, port = parse_listen(o.listen)
    rates = [
        int(r)
        for r in _per_source([str(r) for r in o.spending_rates], len(o.torrents), "--spending-rate")
    ]
    wanted = [_wanted(t, r) for t, r in zip(o.torrents, rates, strict=True)]
    for p in o.peers:
        parse_listen(p)
    payee_tls = _payee_client_tls(o.payee_ca_cert)
    budget = parse_amount(o.budget, allow_zero=True)
    if budget > 0 and any(w.bidding for w in wanted):
        _check_ledger(s)  # else plain BitTorrent: no ledger needed; before the password prompt
    key = s.wallet().signing_key
    dl = PaidDownloader(
        key=key,
        ledger_target=s.ledger,
        ip=ip,
        port=port,
        out_dir=o.out,
        sources=wanted,
        budget=budget,
        seeders=[parse_paid_peer(p) for p in o.paid_peers],
        peers=o.peers,
        rate=parse_amount(o.rate) if o.rate is not None else None,
        store_path=s.home / "channels.db",
        close_mode=o.close,
        timeout=o.timeout,
        dht=o.dht,
        ledger_ca_cert=s.ca_cert,
        payee_credentials=payee_tls,
        control_path=usable_socket(o.control or default_socket(s.home)),
    )
    try:
        summary = dl.run_all() if s.json else _with_bar(dl)
    except ControlError as exc:
        raise CliError(str(exc)) from None
    _report(s, summary)
    if not summary.complete:
        raise CliError(f"download incomplete after {o.timeout:g}s")


def _with_bar(dl: PaidDownloader) -> DownloadsSummary:
    """The progress bar, and under it every peer: paid at its rate or free and why."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} pieces"),
        TextColumn("{task.fields[speed]}"),
        TextColumn("{task.fields[spent]}"),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns)
    task = bar.add_task("download", total=None, speed="", spent="")
    with Live(Group(bar, peers_table(())), refresh_per_second=4, transient=True) as live:

        def bids() -> str:
            now = sorted(set(dl.current_bids().values()))
            return f", bid {' '.join(format_btt(b) for b in now)}/piece" if now else ""

        def update(p: ProgressSnapshot) -> None:
            bar.update(
                task,
                total=p.pieces_total or None,
                completed=p.pieces_done,
                speed=f"{p.download_rate / 2**20:.1f} MiB/s",
                spent=f"{format_btt(p.spent)} spent of {format_btt(p.budget)}" + bids(),
            )
            live.update(Group(bar, peers_table(p.peers)))

        return dl.run_all(update)


def _report(s: Any, summary: DownloadsSummary) -> None:
    def human(c: Any) -> None:
        c.print(
            f"{'complete' if summary.complete else 'incomplete'}: {len(summary.torrents)} "
            f"torrent(s) in {summary.seconds:.1f}s, spent {format_btt(summary.spent)} of "
            f"{format_btt(summary.budget)}"
        )
        for t in summary.torrents:
            c.print(download_table(t))
            c.print(f"{t.pieces} pieces, spent {format_btt(t.spent)}")

    s.emit(summary.to_json(), human)


def register(app: typer.Typer) -> None:
    """Add `seed`, `download` and `control` to the `btt` app."""
    app.command("seed")(seed)
    app.command("download")(download)
    app.command("control")(control)
