"""`btt-bridge`: move TRC-10 BTT between TRON and the BTT ledger.

Usage: btt-bridge [SETTINGS] COMMAND [OPTIONS]. Every setting also comes from the environment
(BTT_BRIDGE_<NAME>) or a TOML file (--config); flags win over the environment, which wins over
the file. Secrets come from the environment or a file, never a command-line value: the hot key
from --hot-key-file or BTT_BRIDGE_HOT_KEY, the Treasury token from --treasury-token-file or
BTT_BRIDGE_TREASURY_TOKEN, the TronGrid key from --api-key-file or BTT_BRIDGE_API_KEY. A command
asks only for what it needs: deposit, status and reconcile read with the bridge's address alone.
"""

from __future__ import annotations

import os

# gRPC core's own log lines ("Handshake failed ...") would reach stderr beside ours, which say
# the same in words. Read when gRPC loads, so set before any import of it; an operator who wants
# them sets GRPC_VERBOSITY.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import functools
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from prometheus_client import start_http_server
from sqlalchemy.exc import SQLAlchemyError

from bridge import devnode as devnode_pkg
from bridge.binding import BindingError, SignedBinding, sign_binding
from bridge.config import (
    BridgeConfig,
    ConfigError,
    describe,
    load_config,
    open_keystore,
    settings_in_force,
)
from bridge.devtools import deposit as send_deposit
from bridge.devtools import devnode_fund, devnode_issue_token
from bridge.lease import LeaseHeld
from bridge.ledger_link import NO_ANSWER, LedgerLink, explain_unavailable
from bridge.metrics import BridgeMetrics
from bridge.payout import LeaseLost
from bridge.preflight import Finding, Severity, check_hot_address
from bridge.progress import Progress
from bridge.reconcile import reconcile as reconcile_books
from bridge.repeats import CollapseRepeats
from bridge.runner import BridgeRunner, make_gateway, make_treasury
from bridge.schema import DepositStatus, PayoutStatus
from bridge.store import BridgeStore
from bridge.tron import NodeUnavailable, TronError, TronGateway
from client_sdk.ledger_client import LedgerClient, LedgerError, LedgerUnavailable
from core import logs
from core.crypto import SigningKey, is_address
from core.keystore import looks_like_keystore
from core.settings import parse_address
from core.version import version_line
from core.wire import withdrawal_status_from_pb

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False
)
F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Expected failures become one `error: ...` line and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NodeUnavailable as exc:
            _fail(f"TRON node unreachable: {exc.message.split(':', 1)[0]} ({_endpoint()})")
        except LedgerUnavailable as exc:
            _fail(_explain_ledger(exc))
        except (ConfigError, BindingError, LedgerError, TronError, LeaseHeld, LeaseLost) as exc:
            _fail(str(exc))
        except SQLAlchemyError as exc:
            _fail(f"bridge database: {getattr(exc, 'orig', None) or exc.__class__.__name__}")
        except OSError as exc:
            _fail(f"{exc.strerror}: {exc.filename}" if exc.filename and exc.strerror else str(exc))
        except ValueError as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _fail(message: str) -> None:
    typer.echo(f"error: {' '.join(message.split())}", err=True)  # one line, whatever it held
    raise typer.Exit(2)


_state: dict[str, Any] = {}


def _config() -> BridgeConfig:
    if "config" not in _state:
        _state["config"] = load_config(**_state["flags"])
    config: BridgeConfig = _state["config"]
    return config


def _endpoint() -> str:
    try:
        return _config().endpoint
    except ConfigError:
        return "?"


def _explain_ledger(exc: LedgerUnavailable) -> str:
    """gRPC says only "unavailable": a probe of our own says why (TLS mismatch, down...)."""
    try:
        config = _config()
        pair = config.ledger_client_pair()
    except ConfigError:
        return str(exc)
    if exc.reason:  # the ledger itself answered (its database is down, say)
        return str(exc)
    said = explain_unavailable(LedgerLink(config.ledger, config.ledger_ca_cert, pair))
    if config.ledger_treasury and said.endswith(NO_ANSWER):  # the Treasury's own port, then
        said = explain_unavailable(LedgerLink(config.ledger_treasury, config.ledger_ca_cert, pair))
    return said


def _read_key(path: Path) -> SigningKey:
    """A raw key file (64 hex characters) or a `btt wallet` keystore (password: BTT_PASSWORD,
    else asked)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    if looks_like_keystore(text):
        password = os.environ.get("BTT_PASSWORD") or typer.prompt(
            f"Password of {path}", hide_input=True
        )
        return open_keystore(path, password)
    try:
        return SigningKey.from_hex(text)
    except ValueError:
        raise ConfigError(f"key file {path} does not hold a 64-hex-character key") from None


Opt = typer.Option


def _listen_address(value: str) -> tuple[str, int]:
    try:
        return parse_address(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _h(name: str) -> str:
    return describe(name)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line("btt-bridge"))
        raise typer.Exit()


@app.callback()
def settings(
    config: Annotated[Path | None, Opt("--config", help=_h("config_file"))] = None,
    network: Annotated[str | None, Opt(help=_h("network"))] = None,
    node_url: Annotated[str | None, Opt(help=_h("node_url"))] = None,
    api_key_file: Annotated[Path | None, Opt(help=_h("api_key_file"))] = None,
    node_timeout: Annotated[float | None, Opt(help=_h("node_timeout"))] = None,
    ledger: Annotated[str | None, Opt(help=_h("ledger"))] = None,
    ledger_treasury: Annotated[str | None, Opt(help=_h("ledger_treasury"))] = None,
    ledger_ca_cert: Annotated[Path | None, Opt(help=_h("ledger_ca_cert"))] = None,
    ledger_client_cert: Annotated[Path | None, Opt(help=_h("ledger_client_cert"))] = None,
    ledger_client_key: Annotated[Path | None, Opt(help=_h("ledger_client_key"))] = None,
    treasury_token_file: Annotated[Path | None, Opt(help=_h("treasury_token_file"))] = None,
    db: Annotated[str | None, Opt(help=_h("db"))] = None,
    token_id: Annotated[str | None, Opt(help=_h("token_id"))] = None,
    hot_key_file: Annotated[Path | None, Opt(help=_h("hot_key_file"))] = None,
    hot_key_password_file: Annotated[Path | None, Opt(help=_h("hot_key_password_file"))] = None,
    bridge_address: Annotated[str | None, Opt(help=_h("bridge_address"))] = None,
    start_block: Annotated[int | None, Opt(help=_h("start_block"))] = None,
    scan_batch: Annotated[int | None, Opt(help=_h("scan_batch"))] = None,
    poll_interval: Annotated[float | None, Opt(help=_h("poll_interval"))] = None,
    tx_lifetime_ms: Annotated[int | None, Opt(help=_h("tx_lifetime_ms"))] = None,
    max_withdrawal: Annotated[int | None, Opt(help=_h("max_withdrawal"))] = None,
    daily_limit: Annotated[int | None, Opt(help=_h("daily_limit"))] = None,
    lease_seconds: Annotated[int | None, Opt(help=_h("lease_seconds"))] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="print the version and exit"
        ),
    ] = False,
) -> None:
    _state.clear()
    flags = dict(locals())
    flags["config_file"] = flags.pop("config")
    flags.pop("version")
    _state["flags"] = flags


@app.command("settings")
@_friendly
def show_settings(as_json: Annotated[bool, Opt("--json")] = False) -> None:
    """Every setting in force and where it came from (flag, env, file or default); secret
    values show only whether they are set."""
    rows = settings_in_force(_config(), _state["flags"])
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        shown = "-" if row["value"] in (None, "") else row["value"]
        typer.echo(f"{row['setting']:20} {shown!s:40} {row['source']}")


@app.command()
def devnode(
    listen: Annotated[str, Opt(help="HOST:PORT")] = "127.0.0.1:8090",
    data_dir: Annotated[Path, Opt(help="chain directory")] = Path(".btt-devnode"),
    block_interval: Annotated[float, Opt(help="seconds, 0 = on demand")] = 3.0,
    solid_depth: Annotated[int, Opt()] = 19,
) -> None:
    """Run a local TRON node (java-tron HTTP API) until SIGINT/SIGTERM."""
    argv = ["--listen", listen, "--data-dir", str(data_dir)]
    argv += ["--block-interval", str(block_interval), "--solid-depth", str(solid_depth)]
    raise typer.Exit(devnode_pkg.main(argv))


def _serve_metrics(listen: tuple[str, int], metrics: BridgeMetrics) -> None:
    host, port = listen
    try:
        start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None


def _hot_address_findings(gateway: TronGateway, address: str, store: BridgeStore) -> list[Finding]:
    config = _config()
    return check_hot_address(
        address=address,
        token_id=config.require_token(),
        trx_balance=gateway.trx_balance(address, solid=False),
        token_balance=gateway.token_balance(address, config.require_token(), solid=False),
        pending_withdrawals=sum(p.amount for p in store.payouts(PayoutStatus.OPEN)),
        network=config.network,
    )


@app.command()
@_friendly
def run(
    once: Annotated[bool, Opt("--once", help="one pass, then exit")] = False,
    metrics: Annotated[
        str | None, Opt(help="serve Prometheus metrics on HOST:PORT (not with --once)")
    ] = None,
    skip_checks: Annotated[
        bool,
        Opt("--skip-checks", help="start without checking that the hot address can pay bandwidth"),
    ] = False,
) -> None:
    """Watch deposits and pay withdrawals until SIGINT/SIGTERM (or one pass with --once),
    showing progress: deposits seen and credited, payouts in flight; a summary at the end.

    Starts by checking that the hot address can pay bandwidth (TRX) and holds the token."""
    config = _config()
    if metrics and once:
        raise ConfigError("--metrics serves a running bridge: not with --once")
    listen = _listen_address(metrics) if metrics else None
    progress = Progress()
    served = BridgeMetrics() if listen else None
    with BridgeRunner(
        config, on_pass=progress.on_pass, on_error=progress.on_error, metrics=served
    ) as runner:
        if listen is not None and served is not None:
            _serve_metrics(listen, served)
        if not once:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: runner.request_stop())
            # Fail fast on what the operator must mend (node or ledger unreachable, TLS
            # mismatch, a wrong token); only a lease held by another bridge is waited for.
            runner.check_links()
        if not skip_checks:  # then whether the hot address can pay
            findings = _hot_address_findings(runner.gateway, runner.address, runner.store)
            for f in findings:
                typer.secho(f"{f.severity.value.upper()}: {f}", err=True, fg="red", bold=True)
            if any(f.severity is Severity.ERROR for f in findings):
                raise typer.Exit(2)
        typer.echo(f"bridge {runner.address} token {config.token_id} on {config.endpoint}")
        sys.stdout.flush()
        if once:
            progress.on_pass(runner.run_once())
            progress.summary()
            return
        runner.run_forever()
        progress.summary()


@app.command()
@_friendly
def bind(
    tron_key_file: Annotated[Path | None, Opt(help="key of the sending TRON address")] = None,
    account_key_file: Annotated[
        Path | None, Opt(help="key of the ledger account (default: the TRON key)")
    ] = None,
    proof: Annotated[Path | None, Opt(help="import a signed binding JSON instead")] = None,
    out: Annotated[Path | None, Opt(help="write the signed binding here, do not store it")] = None,
) -> None:
    """Bind a TRON address to a ledger account (signed by both keys)."""
    config = _config()
    with LedgerClient(config.ledger, ca_cert=config.ledger_ca_cert) as client:
        ledger_id = client.ledger_id()
    if proof is not None:
        binding = SignedBinding.from_json(proof.read_text())
    elif tron_key_file is not None:
        account_key = _read_key(account_key_file) if account_key_file else None
        binding = sign_binding(ledger_id, _read_key(tron_key_file), account_key)
    else:
        raise ConfigError("give --tron-key-file (and --account-key-file) or --proof")
    binding.verify(ledger_id)
    if out is not None:
        out.write_text(binding.to_json())
        typer.echo(f"signed binding written to {out}")
        return
    store = BridgeStore(config.db)
    try:
        store.put_binding(binding.tron_address, binding.account, binding.to_json())
    finally:
        store.close()
    typer.echo(f"bound {binding.tron_address} -> {binding.account}")


@app.command()
@_friendly
def deposit(
    key_file: Annotated[Path, Opt(help="the sender's TRON key (hex)")],
    amount: Annotated[int, Opt(help="base units (1 BTT = 1,000,000)")],
    account: Annotated[
        str | None, Opt(help="ledger account for the memo (default: the sender)")
    ] = None,
    no_memo: Annotated[bool, Opt("--no-memo", help="rely on a binding")] = False,
) -> None:
    """Send BTT from a TRON key to the bridge, with a `btt:<account>` memo."""
    config = _config()
    key = _read_key(key_file)
    target = None if no_memo else (account or key.address)
    if target is not None and not is_address(target):
        raise ConfigError(f"not a ledger account: {target!r}")
    if amount <= 0:
        raise ConfigError("amount must be a positive number of base units")
    gateway = make_gateway(config)
    try:
        txid = send_deposit(gateway, key, config.address(), config.require_token(), amount, target)
    finally:
        gateway.close()
    typer.echo(txid)


@app.command()
@_friendly
def withdraw(
    key_file: Annotated[Path, Opt(help="the ledger account's key (hex)")],
    amount: Annotated[int, Opt(help="base units")],
    to: Annotated[str | None, Opt(help="TRON address to pay (default: the account's)")] = None,
) -> None:
    """Ask the ledger to pay `amount` from your account to a TRON address."""
    config = _config()
    key = _read_key(key_file)
    to = to or key.address
    if not is_address(to):
        raise ConfigError(f"not a TRON address: {to!r}")
    with LedgerClient(config.ledger, key, ca_cert=config.ledger_ca_cert) as client:
        w = client.request_withdrawal(to, amount)
    typer.echo(f"withdrawal {w.withdrawal_id} pending: {w.amount} to {w.tron_address}")


@app.command()
@_friendly
def status(as_json: Annotated[bool, Opt("--json")] = False) -> None:
    """Scan position, balances, open payouts and the suspense list."""
    config = _config()
    address = config.address()
    gateway = make_gateway(config)
    store = BridgeStore(config.db)
    try:
        solid = gateway.solid_head().number
        token = config.require_token()
        balances = gateway.token_balances(address)
        data: dict[str, Any] = {
            "bridge_address": address,
            "token_id": config.token_id,
            "solid_block": solid,
            "next_block_to_scan": store.cursor(),
            "token_balance": balances.pop(token, 0),
            "other_tokens": balances,  # sent to the bridge, credited to nobody
            "trx_balance": gateway.trx_balance(address),
            "warnings": [
                {"severity": f.severity.value, "problem": f.problem, "remedy": f.remedy}
                for f in _hot_address_findings(gateway, address, store)
            ],
            "bindings": len(store.bindings()),
            "deposits_credited": len(store.deposits(DepositStatus.CREDITED)),
            "suspense": [
                {
                    "deposit": f"{d.txid}:{d.contract_index}",
                    "from": d.tron_from,
                    "amount": d.amount,
                    "reason": d.reason,
                }
                for d in store.deposits(DepositStatus.SUSPENSE)
            ],
            "open_payouts": [
                {
                    "withdrawal_id": p.withdrawal_id,
                    "to": p.tron_address,
                    "amount": p.amount,
                    "txids": [t.txid for t in store.txs(p.withdrawal_id)],
                }
                for p in store.payouts(PayoutStatus.OPEN)
            ],
        }
    finally:
        store.close()
        gateway.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key in (
        "bridge_address",
        "token_id",
        "solid_block",
        "next_block_to_scan",
        "token_balance",
        "trx_balance",
        "bindings",
        "deposits_credited",
    ):
        typer.echo(f"{key:20} {data[key]}")
    for other, amount in data["other_tokens"].items():
        typer.echo(f"other token {other:8} {amount} (not BTT: credited to nobody)")
    for w in data["warnings"]:
        typer.secho(f"{w['severity'].upper()}: {w['problem']}. {w['remedy']}", fg="red", bold=True)
    typer.echo(f"suspense ({len(data['suspense'])}):")
    for s in data["suspense"]:
        typer.echo(f"  {s['deposit']} {s['amount']} from {s['from']}: {s['reason']}")
    typer.echo(f"open payouts ({len(data['open_payouts'])}):")
    for p in data["open_payouts"]:
        typer.echo(f"  {p['withdrawal_id']} {p['amount']} to {p['to']} txs {','.join(p['txids'])}")


@app.command()
@_friendly
def reconcile(as_json: Annotated[bool, Opt("--json")] = False) -> None:
    """Compare the bridge's solidified balance with the ledger's liabilities (exit 1 on a gap).

    Reads only: needs neither the hot key nor the Treasury token."""
    config = _config()
    gateway = make_gateway(config)
    store = BridgeStore(config.db)
    try:
        with LedgerClient(config.ledger, ca_cert=config.ledger_ca_cert) as client:
            r = reconcile_books(
                gateway,
                client.audit,
                store,
                bridge_address=config.address(),
                token_id=config.require_token(),
                start_block=config.scan_start(),
            )
    finally:
        store.close()
        gateway.close()
    if as_json:
        typer.echo(json.dumps(r.as_dict(), indent=2))
    else:
        a = r.audit
        typer.echo(f"solid block          {r.solid_block}")
        typer.echo(f"chain balance        {r.chain_balance}")
        typer.echo(
            f"ledger liabilities   {a.liabilities} (balances {a.account_balances} + escrow "
            f"{a.channel_escrow} + pending withdrawals {a.pending_withdrawals})"
        )
        for i in r.in_flight:
            typer.echo(f"in flight {i.kind:14} {i.amount:>14}  {i.reference}")
        typer.echo(f"expected on chain    {r.expected}")
        typer.echo(f"difference           {r.difference:+d}")
        if not a.balanced:
            typer.echo("ledger audit: NOT balanced")
        typer.echo("reconciled" if r.ok else "MISMATCH")
    if not r.ok:
        raise typer.Exit(1)


@app.command()
@_friendly
def withdrawals(
    status: Annotated[str | None, Opt(help="pending, paid or failed (default: all)")] = None,
    as_json: Annotated[bool, Opt("--json")] = False,
) -> None:
    """Every withdrawal with its status and payout txs, as the ledger records them (needs the
    Treasury token)."""
    config = _config()
    wanted = withdrawal_status_from_pb(status) if status else None
    if status and wanted is None:
        raise ConfigError(f"--status must be pending, paid or failed, not {status!r}")
    with make_treasury(config) as treasury:
        found = treasury.payouts(wanted)
    rows: list[dict[str, Any]] = [
        {
            "withdrawal_id": p.withdrawal.withdrawal_id,
            "account": p.withdrawal.account,
            "to": p.withdrawal.tron_address,
            "amount": p.withdrawal.amount,
            "status": p.withdrawal.status,
            "txid": p.withdrawal.txid,
            "payout_txs": [t.txid for t in p.txs],
            "failure_reason": p.withdrawal.failure_reason,
        }
        for p in found
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        what = row["txid"] or row["failure_reason"] or ",".join(row["payout_txs"]) or "-"
        head = f"{row['withdrawal_id']:>6} {row['status']:8} {row['amount']:>14}"
        typer.echo(f"{head} to {row['to']}  {what}")


@app.command()
@_friendly
def address(
    key_file: Annotated[Path, Opt(help="a raw key file (hex) or a wallet keystore")],
) -> None:
    """Print the TRON address of a key file (a keystore's address needs no password)."""
    try:
        text = key_file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {key_file}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            found = str(json.loads(text).get("address", ""))
        except (ValueError, AttributeError):
            found = ""
        if not is_address(found):
            raise ConfigError(f"{key_file} is not a wallet keystore")
        typer.echo(found)
        return
    typer.echo(_read_key(key_file).address)


@app.command()
@_friendly
def fund(
    address: Annotated[str, typer.Argument(help="TRON address to fund")],
    amount: Annotated[str, typer.Argument(help="whole TRX or tokens (100), or base units (5u)")],
    trx: Annotated[bool, Opt("--trx", help="fund TRX (sun) instead of the token")] = False,
) -> None:
    """Devnode only: give an address TRX or the token (--token-id) out of thin air."""
    config = _config()
    if config.network != "devnode":
        raise ConfigError("fund works on a devnode only; on a real network, send TRX or BTT")
    if not is_address(address):
        raise ConfigError(f"not a TRON address: {address!r}")
    units = _units(amount)
    devnode_fund(config.endpoint, address, units, None if trx else config.require_token())
    what = "sun" if trx else f"units of token {config.token_id}"
    typer.echo(f"funded {address} with {units} {what}")


def _units(text: str) -> int:
    """'100' -> 100 * 10**6 (TRX and BTT both have 6 decimals); '5u' -> 5 base units."""
    raw = text.strip()
    value = int(raw[:-1]) if raw.endswith("u") and raw[:-1].isdigit() else None
    if value is None and raw.isdigit():
        value = int(raw) * 1_000_000
    if value is None or value <= 0:
        raise ConfigError(f"invalid amount {text!r}: whole units (100) or base units (5u)")
    return value


@app.command("issue-token")
@_friendly
def issue_token(
    key_file: Annotated[Path, Opt(help="the issuer's TRON key (hex)")],
    name: Annotated[str, Opt()] = "BTT",
    supply: Annotated[int, Opt(help="total supply in base units")] = 10**15,
) -> None:
    """Issue a TRC-10 token (devnode: instantly, free; testnet: costs the issue fee)."""
    config = _config()
    key = _read_key(key_file)
    if config.network == "devnode":
        token = devnode_issue_token(config.endpoint, key.address, name, supply)
    else:
        gateway = make_gateway(config)
        try:
            token = gateway.issue_token(key, name, supply)
        finally:
            gateway.close()
    typer.echo(token)


def main() -> None:
    # A persisting problem is logged once, then with a count.
    logs.configure(os.environ.get("BTT_LOG_LEVEL", "WARNING"), filters=[CollapseRepeats()])
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
