"""`btt-ledger`: serve the ledger, migrate its database, inspect it.

Every option has an environment variable (BTT_LEDGER_*); flags win over the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import start_http_server
from sqlalchemy.exc import SQLAlchemyError

from core.database import DEFAULT_TIMEOUT, make_engine
from core.rejections import Rejected
from core.status import ChannelStatus
from core.types import Amount
from ledger import logs
from ledger.faucet import FaucetConfigError, FaucetPolicy
from ledger.rpc.server import ConfigError, TlsFiles, build_service, start_server
from ledger.service import LedgerService
from ledger.storage.migrate import upgrade

DEFAULT_DB = f"sqlite:///{Path.home() / '.btt' / 'ledger.db'}"

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
admin = typer.Typer(no_args_is_help=True, help="Inspect a ledger database directly.")
app.add_typer(admin, name="admin")

DbOption = Annotated[
    str,
    typer.Option(
        "--db", envvar="BTT_LEDGER_DB", help="SQLAlchemy URL (sqlite:///... or postgresql://...)"
    ),
]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _ensure_sqlite_dir(db: str) -> None:
    if db.startswith("sqlite:///"):
        Path(db.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _service(db: str, **kwargs: Any) -> LedgerService:
    _ensure_sqlite_dir(db)
    try:
        return build_service(db, **kwargs)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot use database {db}: {exc.__class__.__name__}: {getattr(exc, 'orig', exc)}")
    raise AssertionError("unreachable")


@app.command()
def serve(
    db: DbOption = DEFAULT_DB,
    listen: Annotated[str, typer.Option(envvar="BTT_LEDGER_LISTEN")] = "127.0.0.1:50051",
    ledger_id: Annotated[
        str | None, typer.Option(envvar="BTT_LEDGER_ID", help="pinned on first start")
    ] = None,
    treasury_token: Annotated[
        str | None, typer.Option(envvar="BTT_LEDGER_TREASURY_TOKEN", help="enables Treasury")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(envvar="BTT_LEDGER_TLS_CERT")] = None,
    tls_key: Annotated[Path | None, typer.Option(envvar="BTT_LEDGER_TLS_KEY")] = None,
    metrics: Annotated[
        str | None, typer.Option(envvar="BTT_LEDGER_METRICS", help="HOST:PORT for Prometheus")
    ] = None,
    challenge_window: Annotated[int, typer.Option(envvar="BTT_LEDGER_CHALLENGE_WINDOW")] = 3600,
    migrate: Annotated[
        bool, typer.Option(help="upgrade the schema on start (default for SQLite)")
    ] = False,
    log_level: Annotated[str, typer.Option(envvar="BTT_LOG_LEVEL")] = "INFO",
    db_workers: Annotated[
        int, typer.Option(envvar="BTT_LEDGER_DB_WORKERS", help="concurrent DB transactions")
    ] = 8,
    db_timeout: Annotated[
        float,
        typer.Option(
            envvar="BTT_LEDGER_DB_TIMEOUT",
            help="seconds one database transaction may take (a client's shorter deadline wins)",
        ),
    ] = DEFAULT_TIMEOUT,
    processes: Annotated[
        int,
        typer.Option(
            envvar="BTT_LEDGER_PROCESSES",
            help="server processes sharing the port (the ledger is stateless over its database)",
        ),
    ] = 1,
    faucet_pool: Annotated[
        str | None,
        typer.Option(
            envvar="BTT_LEDGER_FAUCET_POOL",
            help="turns the promotional faucet on: the account grants are paid from",
        ),
    ] = None,
    faucet_amount: Annotated[
        int, typer.Option(envvar="BTT_LEDGER_FAUCET_AMOUNT", help="base units per grant")
    ] = 10_000_000,
    faucet_difficulty: Annotated[
        int, typer.Option(envvar="BTT_LEDGER_FAUCET_DIFFICULTY", help="proof-of-work bits")
    ] = 22,
    faucet_challenge_ttl: Annotated[
        int, typer.Option(envvar="BTT_LEDGER_FAUCET_CHALLENGE_TTL", help="seconds")
    ] = 600,
    faucet_per_address: Annotated[
        int,
        typer.Option(
            envvar="BTT_LEDGER_FAUCET_PER_ADDRESS", help="grants per client address per window"
        ),
    ] = 3,
    faucet_window: Annotated[
        int, typer.Option(envvar="BTT_LEDGER_FAUCET_WINDOW", help="seconds")
    ] = 86_400,
) -> None:
    """Run the ledger gRPC service until SIGINT/SIGTERM."""
    faucet = None
    if faucet_pool:
        try:
            faucet = FaucetPolicy(
                pool=faucet_pool,
                amount=Amount(faucet_amount),
                difficulty_bits=faucet_difficulty,
                challenge_ttl=faucet_challenge_ttl,
                per_address=faucet_per_address,
                window=faucet_window,
            )
        except FaucetConfigError as exc:
            _fail(str(exc))
    child = os.environ.get(_CHILD_ENV)
    if processes < 1:
        _fail("--processes must be at least 1")
    if processes > 1 and child is None:
        if listen.endswith(":0"):
            _fail("--processes needs a fixed port")
        # Migrate and pin the ledger id once, before the workers race for it.
        _service(db, ledger_id=ledger_id, migrate=migrate or None).store.dispose()
        raise typer.Exit(_supervise(processes))
    if child not in (None, "0"):
        metrics = None  # one Prometheus endpoint, served by the first process
    logs.configure(log_level)
    if (tls_cert is None) != (tls_key is None):
        _fail("--tls-cert and --tls-key go together")
    tls = None
    if tls_cert and tls_key:
        for path in (tls_cert, tls_key):
            if not path.is_file():
                _fail(f"TLS file not found: {path}")
        tls = TlsFiles(tls_cert, tls_key)
    if db_workers < 1:
        _fail("--db-workers must be at least 1")
    if not db_timeout > 0:
        _fail("--db-timeout must be above 0")
    service = _service(
        db,
        ledger_id=ledger_id,
        challenge_window=challenge_window,
        migrate=migrate or None,
        pool_size=db_workers,
        db_timeout=db_timeout,
        faucet=faucet,
    )

    async def run() -> None:
        from core.rpc import Metrics

        m = Metrics()
        if metrics:
            host, _, port = metrics.rpartition(":")
            start_http_server(int(port), addr=host or "127.0.0.1", registry=m.registry)
        try:
            running = await start_server(
                service,
                listen,
                treasury_token=treasury_token,
                tls=tls,
                metrics=m,
                workers=db_workers,
                reuse_port=child is not None,
            )
        except (ConfigError, RuntimeError) as exc:
            _fail(f"cannot listen on {listen}: {exc}")
            return
        typer.echo(
            f"btt-ledger {service.ledger_id} listening on "
            f"{listen.rsplit(':', 1)[0]}:{running.port}",
            err=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()

    asyncio.run(run())


_CHILD_ENV = "BTT_LEDGER_PROCESS_INDEX"


def _supervise(processes: int) -> int:
    """Run `processes` copies of this serve command on one port; stop them all together."""
    argv = [sys.executable, "-m", "ledger.cli", *sys.argv[1:]]
    children = [
        subprocess.Popen(argv, env={**os.environ, _CHILD_ENV: str(i)}) for i in range(processes)
    ]

    def forward(signum: int, _frame: object) -> None:
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    codes = [c.wait() for c in children]
    return max(codes)


@app.command()
def migrate(db: DbOption = DEFAULT_DB) -> None:
    """Upgrade the database schema to the latest version."""
    _ensure_sqlite_dir(db)
    try:
        engine = make_engine(db)
        upgrade(engine)
        engine.dispose()
    except SQLAlchemyError as exc:
        _fail(f"migration failed: {getattr(exc, 'orig', exc)}")
    typer.echo("database is at the latest schema")


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
def admin_audit(db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Totals of every liability bucket; exit 1 when the books do not balance."""
    report = _service(db).audit()
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
def admin_account(account: str, db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Balance and nonce of an account."""
    try:
        a = _service(db).get_account(account)
    except Rejected as exc:
        _fail(str(exc))
        return
    _print({"account": a.account_id, "balance": a.balance, "nonce": a.nonce}, as_json)


@admin.command("channels")
def admin_channels(
    db: DbOption = DEFAULT_DB,
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
        channels = _service(db).list_channels(party=party, status=st, limit=limit)
    except Rejected as exc:
        _fail(str(exc))
        return
    _print([_channel_dict(c) for c in channels], as_json)


@admin.command("channel")
def admin_channel(channel_id: str, db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """One channel by its hex id."""
    try:
        c = _service(db).get_channel(bytes.fromhex(channel_id))
    except ValueError:
        _fail("channel id must be hex")
        return
    except Rejected as exc:
        _fail(str(exc))
        return
    _print(_channel_dict(c), as_json)


@admin.command("sweep")
def admin_sweep(db: DbOption = DEFAULT_DB) -> None:
    """Settle every channel past its expiry or challenge window now."""
    typer.echo(f"settled {_service(db).sweep()} channel(s)")


@admin.command("events")
def admin_events(
    db: DbOption = DEFAULT_DB, after: int = 0, limit: int = 50, as_json: JsonOption = False
) -> None:
    """The event log (outbox), oldest first."""
    events = _service(db).events_after(after, limit)
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
