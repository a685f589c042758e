"""`btt-ledger`: serve the ledger, migrate its database, inspect and back it up.

Every setting comes from a flag, else an environment variable (BTT_LEDGER_*), else the TOML file
given with --config: docs/configuration.md lists them all.
"""

from __future__ import annotations

import os

# gRPC core's own log lines ("E1130 ... bind failed") would reach stderr beside our one-line
# errors, which say the same in words. Read when gRPC loads; GRPC_VERBOSITY turns them back on.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import start_http_server
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core import logs
from core.database import is_sqlite, make_engine, normalize_url
from core.rejections import Rejected
from core.rpc import Metrics
from core.status import ChannelStatus
from core.version import version_line
from ledger.admin_db import AdminDbError, backup_sqlite, require_ledger_db
from ledger.rpc.server import ConfigError as ServerConfigError
from ledger.rpc.server import TlsFiles, build_service, start_server
from ledger.service import LedgerService
from ledger.settings import (
    ConfigError,
    LedgerSettings,
    describe,
    load_settings,
    parse_address,
    settings_in_force,
)
from ledger.storage.errors import DatabaseUnavailable
from ledger.storage.migrate import upgrade
from ledger.supervisor import CHILD_ENV, supervise

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False
)
admin = typer.Typer(no_args_is_help=True, help="Inspect a ledger database directly.")
app.add_typer(admin, name="admin")

Opt = typer.Option


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line("btt-ledger"))
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        Opt("--version", is_eager=True, callback=_print_version, help="print the version and exit"),
    ] = False,
) -> None:
    """The options before the command."""


ConfigOption = Annotated[Path | None, Opt("--config", help=describe("config_file"))]
DbOption = Annotated[str | None, Opt("--db", help=describe("db"))]


def _fail(message: str) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)  # one line, whatever it held
    raise typer.Exit(2)


def _settings(**flags: Any) -> LedgerSettings:
    try:
        return load_settings(**flags)
    except ConfigError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


def _db_error(db: str, exc: Exception) -> str:
    shown = make_url(normalize_url(db)).render_as_string(hide_password=True)
    return f"cannot use database {shown}: {getattr(exc, 'orig', None) or exc}"


def _ensure_sqlite_dir(db: str) -> None:
    """A new SQLite ledger file is created 0600 in a directory made 0700: it holds money data."""
    if not is_sqlite(db) or make_url(db).database in (None, "", ":memory:"):
        return
    path = Path(str(make_url(db).database)).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # empty = new DB


def _service(db: str, **kwargs: Any) -> LedgerService:
    _ensure_sqlite_dir(db)
    try:
        return build_service(db, **kwargs)
    except (ConfigError, ServerConfigError, ValueError) as exc:
        _fail(str(exc))
    except (SQLAlchemyError, DatabaseUnavailable) as exc:
        _fail(_db_error(db, exc))
    raise AssertionError("unreachable")


@app.command()
def serve(
    config: ConfigOption = None,
    db: DbOption = None,
    listen: Annotated[str | None, Opt(help=describe("listen"))] = None,
    ledger_id: Annotated[str | None, Opt(help=describe("ledger_id"))] = None,
    tls_cert: Annotated[Path | None, Opt(help=describe("tls_cert"))] = None,
    tls_key: Annotated[Path | None, Opt(help=describe("tls_key"))] = None,
    treasury_token_file: Annotated[Path | None, Opt(help=describe("treasury_token_file"))] = None,
    treasury_listen: Annotated[str | None, Opt(help=describe("treasury_listen"))] = None,
    treasury_client_ca: Annotated[Path | None, Opt(help=describe("treasury_client_ca"))] = None,
    metrics: Annotated[str | None, Opt(help=describe("metrics"))] = None,
    challenge_window: Annotated[int | None, Opt(help=describe("challenge_window"))] = None,
    migrate: Annotated[bool | None, Opt("--migrate", help=describe("migrate"))] = None,
    log_level: Annotated[str | None, Opt(help=describe("log_level"))] = None,
    db_workers: Annotated[int | None, Opt(help=describe("db_workers"))] = None,
    db_timeout: Annotated[float | None, Opt(help=describe("db_timeout"))] = None,
    processes: Annotated[int | None, Opt(help=describe("processes"))] = None,
    faucet_pool: Annotated[str | None, Opt(help=describe("faucet_pool"))] = None,
    faucet_amount: Annotated[int | None, Opt(help=describe("faucet_amount"))] = None,
    faucet_difficulty: Annotated[int | None, Opt(help=describe("faucet_difficulty"))] = None,
    faucet_challenge_ttl: Annotated[int | None, Opt(help=describe("faucet_challenge_ttl"))] = None,
    faucet_per_address: Annotated[int | None, Opt(help=describe("faucet_per_address"))] = None,
    faucet_window: Annotated[int | None, Opt(help=describe("faucet_window"))] = None,
    rate_limit: Annotated[float | None, Opt(help=describe("rate_limit"))] = None,
    rate_burst: Annotated[int | None, Opt(help=describe("rate_burst"))] = None,
    keepalive_time: Annotated[float | None, Opt(help=describe("keepalive_time"))] = None,
    keepalive_timeout: Annotated[float | None, Opt(help=describe("keepalive_timeout"))] = None,
    idle_timeout: Annotated[float | None, Opt(help=describe("idle_timeout"))] = None,
    min_ping_interval: Annotated[float | None, Opt(help=describe("min_ping_interval"))] = None,
    max_ping_strikes: Annotated[int | None, Opt(help=describe("max_ping_strikes"))] = None,
    permit_pings_without_calls: Annotated[
        bool | None, Opt(help=describe("permit_pings_without_calls"))
    ] = None,
) -> None:
    """Run the ledger gRPC service until SIGINT/SIGTERM. Every option is also an environment
    variable BTT_LEDGER_<NAME> and a key of the --config TOML file (docs/configuration.md);
    the Treasury token comes from BTT_LEDGER_TREASURY_TOKEN or --treasury-token-file only."""
    flags = dict(locals())
    flags["config_file"] = flags.pop("config")
    settings = _settings(**flags)
    try:
        settings.check_files()
        faucet = settings.faucet()
        token = settings.treasury_secret()
        if settings.treasury_listen and token is None:
            raise ConfigError(
                "--treasury-listen serves the Treasury, which needs its token "
                "(BTT_LEDGER_TREASURY_TOKEN or --treasury-token-file)"
            )
    except ConfigError as exc:
        _fail(str(exc))
        return
    child = os.environ.get(CHILD_ENV)
    logs.configure(settings.log_level)
    if settings.processes > 1 and child is None:
        # Migrate and pin the ledger id once, before the workers race for it.
        _service(
            settings.db, ledger_id=settings.ledger_id, migrate=settings.migrate or None
        ).store.dispose()
        raise typer.Exit(supervise(settings.processes))
    tls = None
    if settings.tls_cert and settings.tls_key:
        tls = TlsFiles(settings.tls_cert, settings.tls_key)
    treasury_tls = None
    if tls is not None and settings.treasury_listen:
        treasury_tls = TlsFiles(tls.cert, tls.key, settings.treasury_client_ca)
    m = Metrics()
    if settings.metrics and child in (None, "0"):  # one Prometheus endpoint, the first process's
        host, port = parse_address(settings.metrics)
        try:
            start_http_server(port, addr=host, registry=m.registry)
        except OSError as exc:
            _fail(f"cannot serve metrics on {settings.metrics}: {exc.strerror or exc}")
    service = _service(
        settings.db,
        ledger_id=settings.ledger_id,
        challenge_window=settings.challenge_window,
        migrate=settings.migrate or None,
        pool_size=settings.db_workers,
        db_timeout=settings.db_timeout,
        faucet=faucet,
    )

    async def run() -> None:
        try:
            running = await start_server(
                service,
                settings.listen,
                treasury_token=token,
                tls=tls,
                metrics=m,
                workers=settings.db_workers,
                reuse_port=child is not None,
                treasury_listen=settings.treasury_listen,
                treasury_tls=treasury_tls,
                rate_limit=settings.rate(),
                keepalive=settings.keepalive(),
            )
        except (ServerConfigError, RuntimeError) as exc:
            reason = str(exc).split(";")[0]  # not gRPC's advice on its own verbosity
            _fail(f"cannot listen: {reason} (in use, or not an address of this host)")
            return
        host = settings.listen.rsplit(":", 1)[0]
        where = f"{host}:{running.port}"
        if running.treasury_port is not None and settings.treasury_listen:
            thost = settings.treasury_listen.rsplit(":", 1)[0]
            where += f" (Treasury on {thost}:{running.treasury_port})"
        typer.echo(f"btt-ledger {service.ledger_id} listening on {where}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()

    asyncio.run(run())


@app.command("settings")
def show_settings(
    config: ConfigOption = None,
    as_json: Annotated[bool, Opt("--json", help="machine-readable output")] = False,
) -> None:
    """Every setting `serve` would use with this environment and --config, and where it comes
    from (env, file or default); a secret shows only whether it is set."""
    rows = settings_in_force(_settings(config_file=config))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        shown = "-" if row["value"] in (None, "") else row["value"]
        typer.echo(f"{row['setting']:22} {shown!s:40} {row['source']}")


@app.command()
def migrate(config: ConfigOption = None, db: DbOption = None) -> None:
    """Create the database or upgrade its schema to the latest version."""
    url = _settings(config_file=config, db=db).db
    _ensure_sqlite_dir(url)
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    except SQLAlchemyError as exc:
        _fail(f"migration failed: {_db_error(url, exc)}")
    typer.echo("database is at the latest schema")


def _admin(config: Path | None, db: str | None) -> LedgerService:
    """An existing ledger database: an admin command never creates or upgrades one."""
    url = _settings(config_file=config, db=db).db
    try:
        require_ledger_db(url)
    except AdminDbError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(_db_error(url, exc))
    return _service(url, migrate=False)


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    if isinstance(data, list):
        for row in data:
            typer.echo("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        for k, v in data.items():
            typer.echo(f"{k:22} {v}")


def _channel_dict(c: Any) -> dict[str, Any]:
    return {
        "channel_id": c.channel_id.hex(),
        "payer": c.payer,
        "payee": c.payee,
        "deposit": c.deposit,
        "expiry": c.expiry,
        "status": c.status.value,
        "best_nonce": c.best_nonce,
        "best_cumulative": c.best_cumulative,
        "paid_to_payee": c.paid_to_payee,
        "refunded_to_payer": c.refunded_to_payer,
        "settle_reason": c.settle_reason.value if c.settle_reason else "",
    }


JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@admin.command("audit")
def admin_audit(
    db: DbOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Totals of every liability bucket; exit 1 when the books do not balance."""
    report = _admin(config, db).audit()
    t = report.totals
    _print(
        {
            "account_balances": t.account_balances,
            "channel_escrow": t.channel_escrow,
            "pending_withdrawals": t.pending_withdrawals,
            "deposits_credited": t.deposits_credited,
            "withdrawals_paid": t.withdrawals_paid,
            "journal_entries": t.journal_entries,
            "journal_imbalance": report.journal_imbalance,
            "balanced": report.balanced,
        },
        as_json,
    )
    if not report.balanced:
        raise typer.Exit(1)


@admin.command("account")
def admin_account(
    account: str,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Balance and nonce of an account."""
    try:
        a = _admin(config, db).get_account(account)
    except Rejected as exc:
        _fail(str(exc))
        return
    _print({"account": a.account_id, "balance": a.balance, "nonce": a.nonce}, as_json)


@admin.command("channels")
def admin_channels(
    db: DbOption = None,
    config: ConfigOption = None,
    party: Annotated[str, typer.Option(help="payer or payee address")] = "",
    status: Annotated[str, typer.Option(help="OPEN, CLOSING or SETTLED")] = "",
    limit: int = 100,
    as_json: JsonOption = False,
) -> None:
    """List channels."""
    try:
        st = ChannelStatus(status.upper()) if status else None
    except ValueError:
        _fail("status must be OPEN, CLOSING or SETTLED")
        return
    try:
        channels = _admin(config, db).list_channels(party=party, status=st, limit=limit)
    except Rejected as exc:
        _fail(str(exc))
        return
    _print([_channel_dict(c) for c in channels], as_json)


@admin.command("channel")
def admin_channel(
    channel_id: str,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One channel by its hex id."""
    try:
        cid = bytes.fromhex(channel_id)
    except ValueError:
        _fail("channel id must be hex")
        return
    try:
        c = _admin(config, db).get_channel(cid)
    except Rejected as exc:
        _fail(str(exc))
        return
    _print(_channel_dict(c), as_json)


@admin.command("sweep")
def admin_sweep(db: DbOption = None, config: ConfigOption = None) -> None:
    """Settle every channel past its expiry or challenge window now."""
    typer.echo(f"settled {_admin(config, db).sweep()} channel(s)")


@admin.command("events")
def admin_events(
    db: DbOption = None,
    config: ConfigOption = None,
    after: int = 0,
    limit: int = 50,
    as_json: JsonOption = False,
) -> None:
    """The event log (outbox), oldest first."""
    events = _admin(config, db).events_after(after, limit)
    _print(
        [
            {
                "id": e.event_id,
                "at": e.at,
                "kind": e.kind,
                "accounts": ",".join(e.accounts),
                "amount": e.amount,
                "channel": e.channel_id.hex() if e.channel_id else "",
                "ref": e.reference,
            }
            for e in events
        ],
        as_json,
    )


@admin.command("backup")
def admin_backup(
    out: Annotated[Path, typer.Argument(help="the backup file to write (must not exist)")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Copy a SQLite ledger to OUT while it serves (SQLite's online backup). PostgreSQL: a base
    backup with WAL archiving (docs/operations.md)."""
    url = _settings(config_file=config, db=db).db
    try:
        pages = backup_sqlite(url, out)
    except AdminDbError as exc:
        _fail(str(exc))
        return
    except SQLAlchemyError as exc:
        _fail(_db_error(url, exc))
        return
    typer.echo(f"backed up {pages} pages to {out}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
