"""`btt`: the wallet, ledger and payment-channel command line.

Human output by default, `--json` for scripts. Every option can come from the environment:
BTT_LEDGER, BTT_WALLET, BTT_PASSWORD (else a prompt), BTT_HOME (default ~/.btt), BTT_CA_CERT.
A bad argument or a refusal prints one line, `error: ...`, and exits 1.

The commands live in `client_sdk/commands/` (one module per group) and beside their features
(torrent, funding, tracker), each with a `register(app)`; what they share is `client_sdk.clikit`.
The installed `btt` (devnet.cli) adds the local-stack commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from client_sdk.cliargs import CONFIG_ENV
from client_sdk.clikit import (
    DEFAULT_LEDGER,
    CliError,
    OneLineErrors,
    State,
    check_address,
    format_btt,
    handled,
    parse_amount,
    parse_channel_id,
    run,
    state,
)
from client_sdk.commands import account, channel, events, info, wallet
from core import logs
from core.version import version_line

__all__ = [  # the names older callers import from here; new code imports client_sdk.clikit
    "DEFAULT_LEDGER",
    "CliError",
    "State",
    "app",
    "check_address",
    "format_btt",
    "handled",
    "main",
    "parse_amount",
    "parse_channel_id",
    "register_commands",
    "run",
    "state",
]

app = typer.Typer(
    name="btt",
    cls=OneLineErrors,
    help="BitTorrent Token channels: wallet, ledger and payments.",
    no_args_is_help=True,
    rich_markup_mode=None,  # help texts as written: "[the payee's suggestion]" is not markup
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line("btt"))
        raise typer.Exit()


@app.callback()
def _globals(
    ctx: typer.Context,
    ledger: Annotated[
        str, typer.Option("--ledger", envvar="BTT_LEDGER", help="Ledger gRPC target host:port.")
    ] = DEFAULT_LEDGER,
    home: Annotated[Path, typer.Option("--home", envvar="BTT_HOME", help="Data directory.")] = Path(
        "~/.btt"
    ),
    wallet: Annotated[
        Path | None,
        typer.Option("--wallet", envvar="BTT_WALLET", help="Keystore file [HOME/wallet.json]."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="BTT_PASSWORD", help="Keystore password (else asked)."),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            envvar="BTT_PASSWORD_FILE",
            help="Read the keystore password from this file's first line.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ca_cert: Annotated[
        Path | None, typer.Option("--ca-cert", envvar="BTT_CA_CERT", help="TLS CA certificate.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", envvar="BTT_TIMEOUT", help="Seconds per ledger call.")
    ] = 10.0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=CONFIG_ENV,
            help="TOML file of settings; flags and BTT_* variables win over it.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    home = home.expanduser()
    ctx.obj = State(
        ledger=ledger,
        home=home,
        wallet_path=(wallet or home / "wallet.json").expanduser(),
        password=password,
        json=as_json,
        ca_cert=ca_cert.expanduser() if ca_cert else None,
        timeout=timeout,
        password_file=password_file.expanduser() if password_file else None,
    )


for _group in (wallet, account, channel, events, info):
    _group.register(app)


def register_commands() -> None:
    """Add the commands that live beside their features (torrent, tracker, funding)."""
    from client_sdk.funding.commands import register as register_funding
    from client_sdk.torrent.commands import register as register_torrent
    from client_sdk.tracker.command import register as register_bids

    register_torrent(app)
    register_bids(app)
    register_funding(app)


def main() -> None:
    register_commands()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    # A command for people: key=value lines unless BTT_LOG_FORMAT=json asks otherwise.
    logs.configure(
        os.environ.get("BTT_LOG_LEVEL", "WARNING"),
        json_lines=os.environ.get(logs.FORMAT_ENV, "").lower() == "json",
    )
    app()


if __name__ == "__main__":
    main()
