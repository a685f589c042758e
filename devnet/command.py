"""The `btt demo` and `btt devnet` commands."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from client_sdk.clikit import CliError, handled, parse_amount, state
from devnet.stack import DemoError

if TYPE_CHECKING:
    from devnet.local import DevnetSettings


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        workdir: Annotated[
            Path | None,
            typer.Option(help="keep every database and file here (default: a temp dir)"),
        ] = None,
        size_mib: Annotated[
            int, typer.Option(min=1, max=1024, help="size of the shared file")
        ] = 16,
        as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    ) -> None:
        """Run everything end to end on this machine: ledger, TRON devnode, bridge, paid swarm."""
        from devnet.run import run_demo

        console = Console(stderr=True) if as_json else Console()
        try:
            result = run_demo(workdir=workdir, size_mib=size_mib, console=console, as_json=as_json)
        except DemoError as exc:
            console.print(f"error: {exc}", markup=False)
            raise typer.Exit(1) from None
        raise typer.Exit(0 if result.ok else 1)


def register_devnet(app: typer.Typer) -> None:
    @app.command()
    @handled
    def devnet(
        ctx: typer.Context,
        node_listen: Annotated[
            str,
            typer.Option(
                envvar="BTT_DEVNET_NODE_LISTEN",
                help="TRON devnode HOST:PORT (btt-bridge's default node URL)",
            ),
        ] = "127.0.0.1:8090",
        block_interval: Annotated[float, typer.Option(min=0.05, help="seconds per block")] = 0.5,
        solid_depth: Annotated[int, typer.Option(min=1, help="blocks until solid")] = 19,
        faucet_amount: Annotated[str, typer.Option(help="promotional grant (BTT or 10u)")] = "10",
        faucet_difficulty: Annotated[int, typer.Option(min=1, max=40, help="bits of work")] = 18,
    ) -> None:
        """Run a local ledger, TRON devnode and bridge with a funded faucet until Ctrl-C.

        The ledger listens where --ledger / BTT_LEDGER points; state stays in BTT_HOME/devnet,
        so a restart continues where the last run stopped."""
        from client_sdk.funding.deposit import DepositError
        from devnet.local import DevnetError, DevnetSettings

        s = state(ctx)
        settings = DevnetSettings(
            ledger=s.ledger,
            node_listen=node_listen,
            block_interval=block_interval,
            solid_depth=solid_depth,
            faucet_amount=parse_amount(faucet_amount),
            faucet_difficulty=faucet_difficulty,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            _serve_devnet(s.home, settings, stop)
        except (DevnetError, DepositError) as exc:
            raise CliError(str(exc)) from None


def _serve_devnet(home: Path, settings: DevnetSettings, stop: threading.Event) -> None:
    from devnet.local import running_devnet

    console = Console(highlight=False)

    def say(message: str) -> None:
        console.print(message, markup=False, soft_wrap=True)

    with running_devnet(home, settings, on_step=say) as net:
        env = net.env()
        env_file = net.directory / "env"
        env_file.write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
        say(
            f"\ndevnet ready: ledger {env['BTT_LEDGER']} (id {net.service.ledger_id}), TRON node "
            f"{env['BTT_BRIDGE_NODE_URL']}, BTT token {env['BTT_BRIDGE_TOKEN_ID']}, bridge "
            f"{env['BTT_BRIDGE_BRIDGE_ADDRESS']}, faucet {settings.faucet_amount} units per "
            f"account ({settings.faucet_difficulty} bits of work).\n"
            f"In another shell run `source {env_file}`, which sets:\n"
            + "".join(f"  export {k}={v}\n" for k, v in env.items())
            + "then: btt wallet new && btt faucet && btt balance\n"
            f"Ctrl-C stops the devnet; its state stays in {net.directory}."
        )
        while not stop.wait(0.5):
            pass
        say("stopping...")
    say(f"devnet stopped; state kept in {home / 'devnet'}")
