"""`btt withdraw`: BTT out of the ledger to a TRON address, through the bridge."""

from __future__ import annotations

from typing import Annotated

import typer

from client_sdk.clikit import check_address, format_btt, handled, parse_amount, state


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
    app.command()(withdraw)
