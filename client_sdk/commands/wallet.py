"""`btt wallet new|import|show`: the keystore."""

from __future__ import annotations

from typing import Annotated

import typer

from client_sdk.clikit import handled, state
from client_sdk.wallet import Wallet

wallet_app = typer.Typer(help="Create, import and show the keystore.", no_args_is_help=True)


@wallet_app.command("new")
@handled
def wallet_new(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing wallet.")] = False,
) -> None:
    """Create a new key, encrypted with a password."""
    s = state(ctx)
    w = Wallet.create(s.wallet_path, s.get_password(confirm=True), overwrite=force)
    s.emit(
        {"address": w.address, "path": str(w.path)},
        lambda c: c.print(f"created wallet {w.path}\naddress {w.address}"),
    )


@wallet_app.command("import")
@handled
def wallet_import(
    ctx: typer.Context,
    private_key: Annotated[
        str | None,
        typer.Option("--key", envvar="BTT_PRIVATE_KEY", help="64 hex characters (else asked)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing wallet.")] = False,
) -> None:
    """Import an existing private key."""
    s = state(ctx)
    secret = private_key or typer.prompt("Private key (hex)", hide_input=True)
    w = Wallet.import_hex(s.wallet_path, secret, s.get_password(confirm=True), overwrite=force)
    s.emit(
        {"address": w.address, "path": str(w.path)},
        lambda c: c.print(f"imported into {w.path}\naddress {w.address}"),
    )


@wallet_app.command("show")
@handled
def wallet_show(ctx: typer.Context) -> None:
    """Show the wallet's address (asks for the password to prove it opens)."""
    s = state(ctx)
    w = s.wallet()
    s.emit(
        {"address": w.address, "path": str(w.path)},
        lambda c: c.print(f"address {w.address}\npath    {w.path}"),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(wallet_app, name="wallet")
