"""`btt faucet` and `btt deposit`: put BTT on your ledger account.

Registered on the `btt` app by `client_sdk.cli.register_commands`; global options (--ledger,
--wallet, --password, --home, --json) come from the `btt` callback.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.clikit import CliError, check_address, format_btt, handled, parse_amount, state


def faucet(
    ctx: typer.Context,
    account: Annotated[
        str | None, typer.Argument(help="Account to credit [your wallet's].")
    ] = None,
) -> None:
    """Claim the promotional grant: solves the ledger's proof of work (once per account)."""
    from client_sdk.funding.faucet import claim_grant  # here: keeps `btt` quick to start

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


def deposit_command(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(help="1.5 (BTT) or 1500000u (base units).")],
    node: Annotated[
        str, typer.Option("--node", envvar="BTT_BRIDGE_NODE_URL", help="TRON node HTTP API.")
    ] = "http://127.0.0.1:8090",
    bridge_address: Annotated[
        str,
        typer.Option(
            "--bridge-address", envvar="BTT_BRIDGE_BRIDGE_ADDRESS", help="The bridge's address."
        ),
    ] = "",
    token_id: Annotated[
        str, typer.Option("--token-id", envvar="BTT_BRIDGE_TOKEN_ID", help="TRC-10 BTT token id.")
    ] = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the credit.")] = 600.0,
) -> None:
    """Send TRC-10 BTT from your wallet's TRON address to the bridge and wait for the credit."""
    from client_sdk.funding import deposit  # here: keeps `btt` quick to start

    s = state(ctx)
    units = parse_amount(amount)
    if not bridge_address:
        raise CliError(
            "the bridge's address is not set (--bridge-address or BTT_BRIDGE_BRIDGE_ADDRESS)"
        )
    check_address(bridge_address, "bridge address")
    if not token_id.isdigit():
        raise CliError("the BTT token id is not set (--token-id or BTT_BRIDGE_TOKEN_ID)")
    key = s.wallet().signing_key
    target = deposit.Bridge(node, bridge_address, token_id)
    err = Console(stderr=True, highlight=False)
    with s.client() as client:
        before = client.balance()
        try:
            txid = deposit.send(target, key, units)
        except deposit.DepositError as exc:
            raise CliError(str(exc)) from None
        # A spinner on a terminal; in a log or a pipe, one line per change.
        spinner = err.status(f"deposit {txid[:16]}... sent", spinner="dots")

        def show(p: deposit.DepositProgress) -> None:
            line = f"deposit {txid[:16]}...: {p.describe()}"
            if err.is_terminal:
                spinner.update(line)
            elif not s.json:
                err.print(line, markup=False, soft_wrap=True)

        if err.is_terminal and not s.json:
            spinner.start()
        try:
            done = deposit.follow(
                target, txid, client, key.address, before + units, on_progress=show, timeout=timeout
            )
        except deposit.DepositError as exc:
            raise CliError(str(exc)) from None
        finally:
            spinner.stop()
    s.emit(
        {"txid": txid, "amount": units, "block": done.block, "balance": done.balance},
        lambda c: c.print(
            f"deposited {format_btt(units)} in block {done.block} (tx {txid}); "
            f"balance {format_btt(done.balance)}",
            soft_wrap=True,
        ),
    )


def register(app: typer.Typer) -> None:
    app.command()(handled(faucet))
    app.command("deposit")(handled(deposit_command))
