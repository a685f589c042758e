"""`btt balance`, `btt transfer` and `btt withdraw`: one account on the ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from client_sdk.clikit import check_address, format_btt, handled, parse_amount, state


@handled
def balance(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Any account [your wallet's].")] = None,
) -> None:
    """Show an account's balance."""
    s = state(ctx)
    if address is not None:
        check_address(address)
    with s.client(signed=False) as client:  # a read: the address is public, no password
        account = client.account(address or s.address())
    s.emit(
        {"account": account.id, "balance": account.balance, "nonce": account.nonce},
        lambda c: c.print(f"{account.id}  {format_btt(account.balance)}"),
    )


@handled
def transfer(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="Recipient account.")],
    amount: Annotated[str, typer.Argument(help="1.5 (BTT) or 1500000u (base units).")],
    memo: Annotated[str, typer.Option(help="Up to 120 characters.")] = "",
) -> None:
    """Send BTT to another ledger account."""
    s = state(ctx)
    check_address(to, "recipient")
    units = parse_amount(amount)
    with s.client() as client:
        reply = client.transfer(to, units, memo)
    s.emit(
        {"to": to, "amount": units, "balance": reply.from_account.balance, "entry": reply.entry_id},
        lambda c: c.print(
            f"sent {format_btt(units)} to {to}; balance {format_btt(reply.from_account.balance)}"
        ),
    )


@handled
def withdraw(
    ctx: typer.Context,
    tron_address: Annotated[str, typer.Argument(help="TRON address to pay on chain.")],
    amount: Annotated[str, typer.Argument(help="1.5 (BTT) or 1500000u (base units).")],
) -> None:
    """Ask the bridge to pay BTT out to a TRON address."""
    s = state(ctx)
    check_address(tron_address, "TRON address")
    units = parse_amount(amount)
    with s.client() as client:
        w = client.request_withdrawal(tron_address, units)
    s.emit(
        {"withdrawal_id": w.withdrawal_id, "amount": w.amount, "status": w.status},
        lambda c: c.print(f"withdrawal #{w.withdrawal_id} of {format_btt(w.amount)}: {w.status}"),
    )


def register(app: typer.Typer) -> None:
    app.command()(balance)
    app.command()(transfer)
    app.command()(withdraw)
