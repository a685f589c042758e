"""`btt balance`, `transfer`, `withdraw` and `withdrawals`: one account on the ledger."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from client_sdk.clikit import (
    CliError,
    check_address,
    format_btt,
    format_time,
    handled,
    parse_amount,
    state,
)


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


WITHDRAWAL_STATUSES = ("pending", "paid", "failed")


@handled
def withdrawals(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="pending, paid, failed or all.")] = "all",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    after: Annotated[int, typer.Option(min=0, help="Only ids after this one (paging).")] = 0,
) -> None:
    """Your withdrawals, oldest first, with their status and the payout's TRON txid."""
    s = state(ctx)
    if status != "all" and status not in WITHDRAWAL_STATUSES:
        raise CliError(f"invalid status {status!r}: use pending, paid, failed or all")
    address = s.address()  # a read: no password
    with s.client(signed=False) as client:
        found = client.withdrawals(
            address, "" if status == "all" else status, limit=limit, after=after
        )
    rows: list[dict[str, Any]] = [
        {
            "withdrawal_id": w.withdrawal_id,
            "tron_address": w.tron_address,
            "amount": w.amount,
            "status": w.status,
            "txid": w.txid,
            "requested_at": w.requested_at,
            "failure_reason": w.failure_reason,
        }
        for w in found
    ]

    def human(c: Console) -> None:
        if not rows:
            c.print(f"no withdrawals for {address}")
            return
        table = Table("id", "amount", "to", "status", "requested", "txid / reason")
        for r in rows:
            table.add_row(
                str(r["withdrawal_id"]),
                format_btt(r["amount"]),
                r["tron_address"],
                r["status"],
                format_time(r["requested_at"]),
                r["txid"] or r["failure_reason"] or "-",
            )
        c.print(table)

    s.emit({"account": address, "withdrawals": rows}, human)


def register(app: typer.Typer) -> None:
    app.command()(withdrawals)
    app.command()(balance)
    app.command()(transfer)
    app.command()(withdraw)
