"""`btt faucet` (and `btt deposit`): put BTT on your ledger account.

Registered on the `btt` app by `client_sdk.cli.register_commands`; global options (--ledger,
--wallet, --password, --home, --json) come from the `btt` callback.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.cli import check_address, format_btt, handled, state
from client_sdk.funding.faucet import claim_grant


def faucet(
    ctx: typer.Context,
    account: Annotated[
        str | None, typer.Argument(help="Account to credit [your wallet's].")
    ] = None,
) -> None:
    """Claim the promotional grant: solves the ledger's proof of work (once per account)."""
    s = state(ctx)
    if account is not None:
        check_address(account, "account")
    err = Console(stderr=True, highlight=False)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} hashes (~{task.total:,.0f} expected)"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=s.json,
    )
    task = progress.add_task("asking the ledger for a challenge", total=1)

    def on_challenge(c: pb.FaucetChallenge) -> None:
        progress.update(
            task,
            description=f"proof of work for {format_btt(c.amount)} ({c.difficulty_bits} bits)",
            total=2**c.difficulty_bits,
        )

    with s.client(signed=account is None) as client, progress:
        grant = claim_grant(
            client,
            account,
            on_challenge=on_challenge,
            on_progress=lambda n: progress.update(task, completed=n),
        )
    s.emit(
        {
            "account": grant.account,
            "amount": grant.amount,
            "balance": grant.balance,
            "hashes": grant.hashes,
            "seconds": round(grant.seconds, 3),
        },
        lambda c: c.print(
            f"granted {format_btt(grant.amount)} to {grant.account} after {grant.hashes:,} "
            f"hashes in {grant.seconds:.1f} s; balance {format_btt(grant.balance)}"
        ),
    )


def register(app: typer.Typer) -> None:
    app.command()(handled(faucet))
