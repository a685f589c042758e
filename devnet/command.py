"""The `btt demo` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from devnet.stack import DemoError


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
