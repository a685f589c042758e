"""`btt control`: change the budget or spending rate of a running `btt download`.

Every `btt download` listens on a control socket, `<home>/ctl/<pid>.sock` unless told
otherwise (`--control`); `btt control` finds the one running download of its home, or is told
which with `--socket`. The change takes effect at once: the autobid re-bids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from client_sdk.clikit import CliError, format_btt, handled, parse_amount, state
from client_sdk.torrent.paid.control import ControlError, alive, send

MAX_SOCKET_PATH = 100  # bytes; AF_UNIX paths stop at 107


def default_socket(home: Path) -> Path:
    return home / "ctl" / f"{os.getpid()}.sock"


def usable_socket(path: Path) -> Path | None:
    """`path`, or None (with a warning) when it is too long for a Unix socket."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        typer.echo(f"warning: control socket path too long, `btt control` is off: {path}", err=True)
        return None
    return path


def _find_socket(home: Path) -> Path:
    found = sorted((home / "ctl").glob("*.sock")) if (home / "ctl").is_dir() else []
    found = [p for p in found if alive(p)]  # a download that crashed left its socket behind
    if not found:
        raise CliError(f"no running download (no control socket in {home / 'ctl'})")
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise CliError(f"several downloads run: choose one with --socket ({names})")
    return found[0]


def control(
    ctx: typer.Context,
    budget: Annotated[
        str | None, typer.Option("--budget", help="New budget (BTT or units) for all torrents.")
    ] = None,
    spending_rate: Annotated[
        int | None,
        typer.Option("--spending-rate", help="New autobid spending rate, percent of the budget."),
    ] = None,
    torrent: Annotated[
        str | None,
        typer.Option("--torrent", help="Info hash: the spending rate of this torrent only."),
    ] = None,
    socket_path: Annotated[
        Path | None,
        typer.Option(
            "--socket", help="The download's control socket (default: the one running in --home)."
        ),
    ] = None,
) -> None:
    """Change the budget or spending rate of a running download (no option: show its state)."""
    handled(_control)(ctx, budget, spending_rate, torrent, socket_path)


def _control(
    ctx: typer.Context,
    budget: str | None,
    spending_rate: int | None,
    torrent: str | None,
    socket_path: Path | None,
) -> None:
    s = state(ctx)
    request: dict[str, Any] = {}
    if budget is not None:
        request["budget"] = parse_amount(budget, allow_zero=True)
    if spending_rate is not None:
        if spending_rate < 0:
            raise CliError("--spending-rate must be >= 0")
        request["spending_rate"] = spending_rate
    if torrent is not None:
        if spending_rate is None:
            raise CliError("--torrent goes with --spending-rate")
        request["info_hash"] = torrent.lower()
    path = socket_path or _find_socket(s.home)
    try:
        answer = send(path, request)
    except ControlError as exc:
        raise CliError(str(exc)) from None
    if not answer.get("ok"):
        raise CliError(f"the download refused: {answer.get('error', 'no reason given')}")

    def human(c: Any) -> None:
        c.print(
            f"budget {format_btt(answer['budget'])}, spent {format_btt(answer['spent'])}, "
            f"locked {format_btt(answer['locked'])}"
        )
        for ih, bid in sorted(answer["bids"].items()):
            c.print(f"  bid {ih}: {format_btt(bid)}/piece")

    s.emit(answer, human)
