"""`btt balance`, `btt transfer` and `btt events`: one account on the ledger."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from client_sdk.clikit import check_address, format_btt, handled, parse_amount, state
from core.wire import event_kind_from_pb


@handled
def balance(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Any account [your wallet's].")] = None,
) -> None:
    """Show an account's balance."""
    s = state(ctx)
    if address is not None:
        check_address(address)
    with s.client(signed=address is None) as client:
        account = client.account(address)
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
def events(
    ctx: typer.Context,
    account: Annotated[str, typer.Option(help="Only this account's events [all].")] = "",
    after: Annotated[
        int, typer.Option(help="Replay events after this id first (0: from the first).")
    ] = 0,
    new: Annotated[bool, typer.Option("--new", help="Only events from now on.")] = False,
    limit: Annotated[int, typer.Option(help="Stop after this many (0: follow forever).")] = 0,
) -> None:
    """Follow the ledger's event stream."""
    s = state(ctx)
    if account:
        check_address(account, "account")
    with (
        s.client(signed=False) as client,
        contextlib.closing(client.events(account, after, only_new=new)) as it,
    ):
        for seen, event in enumerate(it, 1):
            kind = event_kind_from_pb(event.kind)
            data = {
                "event_id": event.event_id,
                "at": event.at,
                "kind": kind.value if kind else "unknown",
                "accounts": list(event.accounts),
                "channel_id": bytes(event.channel_id).hex(),
                "amount": event.amount,
            }
            line = (
                f"#{event.event_id} {data['kind']} {format_btt(event.amount)} "
                f"{' '.join(event.accounts)}"
            )
            s.emit(data, lambda c, line=line: c.print(line))  # type: ignore[misc]
            if limit and seen >= limit:
                return


def register(app: typer.Typer) -> None:
    app.command()(balance)
    app.command()(transfer)
    app.command()(events)
