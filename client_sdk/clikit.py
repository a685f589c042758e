"""What every `btt` command module shares: the global options (`State`), one-line errors,
amounts, ids and output. Command modules import this, never `client_sdk.cli`, so the command
groups and the entry point that assembles them form no import cycle."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from typer._click.exceptions import ClickException  # typer vendors its own click
from typer.core import TyperGroup

from client_sdk.channel import ChannelError, PayerStore
from client_sdk.ledger_client import AsyncLedgerClient, LedgerClient, LedgerError
from client_sdk.wallet import Wallet, WalletError
from core.crypto import is_address
from core.types import MAX_AMOUNT, UNITS_PER_BTT

T = TypeVar("T")

DEFAULT_LEDGER = "127.0.0.1:50051"

err_console = Console(stderr=True, highlight=False)


class CliError(Exception):
    """A user-facing failure: printed as one `error: ...` line."""


class OneLineErrors(TyperGroup):
    """Usage errors (unknown option, missing argument) as one `error: ...` line, exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **kw: Any,
    ) -> Any:
        args = hoist_global_options(self, list(sys.argv[1:] if args is None else args))
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kw)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kw)
        except ClickException as exc:
            err_console.print(f"error: {exc.format_message()} (see --help)", markup=False)
            sys.exit(exc.exit_code)
        except typer.Abort:
            err_console.print("error: aborted", markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _option_names(command: Any) -> dict[str, bool]:
    """A command's option spellings -> whether the option takes a value."""
    names: dict[str, bool] = {}
    for param in command.params:
        for name in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            if name.startswith("-"):
                names[name] = not getattr(param, "is_flag", False) and not getattr(
                    param, "count", False
                )
    return names


def hoist_global_options(group: Any, args: list[str]) -> list[str]:
    """Move the group's own options written after the subcommand (`btt balance --json`) to the
    front, where the group parses them. An option the subcommand defines itself (`btt demo
    --json`, `btt download --timeout`) stays the subcommand's; nothing after `--` moves."""
    globals_ = _option_names(group)
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        name, eq, _ = args[i].partition("=")
        i += 2 if globals_.get(name) and not eq else 1
    command = group
    while i < len(args) and isinstance(getattr(command, "commands", None), dict):
        sub = command.commands.get(args[i])
        if sub is None:
            return args
        command, i = sub, i + 1
    own = _option_names(command)
    front: list[str] = []
    rest: list[str] = []
    j = i
    while j < len(args):
        arg = args[j]
        if arg == "--":
            rest.extend(args[j:])
            break
        name, eq, _ = arg.partition("=")
        takes_value = False
        if name in own:
            target, takes_value = rest, own[name]
        elif name in globals_:
            target, takes_value = front, globals_[name]
        else:
            target = rest
        target.append(arg)
        if takes_value and not eq and j + 1 < len(args):
            target.append(args[j + 1])
            j += 1
        j += 1
    return front + args[:i] + rest


# ---------------------------------------------------------------- amounts and ids

_UNITS_RE = re.compile(r"^(\d+)u$")
_BTT_RE = re.compile(r"^\d+(\.\d{1,6})?$")


def parse_amount(text: str, *, allow_zero: bool = False) -> int:
    """'1.5' BTT (up to 6 decimals) or '1500000u' base units -> base units, exact."""
    raw = text.strip().replace("_", "")
    if m := _UNITS_RE.match(raw):
        units = int(m.group(1))
    elif _BTT_RE.match(raw):
        try:
            units = int(Decimal(raw) * UNITS_PER_BTT)
        except InvalidOperation:
            raise CliError(f"invalid amount {text!r}") from None
    else:
        raise CliError(
            f"invalid amount {text!r}: use BTT with up to 6 decimals (1.5) or base units (1500000u)"
        )
    if units > MAX_AMOUNT:
        raise CliError(f"amount {text!r} is too large")
    if units == 0 and not allow_zero:
        raise CliError("amount must be greater than zero")
    return units


def format_btt(units: int) -> str:
    whole, frac = divmod(abs(units), UNITS_PER_BTT)
    sign = "-" if units < 0 else ""
    text = f"{sign}{whole:,}"
    if frac:
        text += f".{frac:06d}".rstrip("0")
    return f"{text} BTT"


def parse_channel_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise CliError(f"invalid channel id {text!r}: expected 64 hex characters") from None
    if len(raw) != 32:
        raise CliError(f"invalid channel id {text!r}: expected 64 hex characters")
    return raw


def check_address(text: str, what: str = "address") -> str:
    if not is_address(text):
        raise CliError(f"invalid {what} {text!r}: expected a TRON address (T...)")
    return text


# ---------------------------------------------------------------- global options


@dataclass
class State:
    """Global options; command modules read them via `state(ctx)`."""

    ledger: str
    home: Path
    wallet_path: Path
    password: str | None
    json: bool
    ca_cert: Path | None
    timeout: float
    _wallet: Wallet | None = field(default=None, repr=False)

    def get_password(self, *, confirm: bool = False) -> str:
        if self.password is None:
            self.password = typer.prompt(
                "Wallet password", hide_input=True, confirmation_prompt=confirm
            )
        return self.password

    def wallet(self) -> Wallet:
        if self._wallet is None:
            self._wallet = Wallet.load(self.wallet_path, self.get_password())
        return self._wallet

    def client(self, *, signed: bool = True) -> LedgerClient:
        key = self.wallet().signing_key if signed else None
        return LedgerClient(self.ledger, key, ca_cert=self.ca_cert, timeout=self.timeout)

    def async_client(self, *, signed: bool = True) -> AsyncLedgerClient:
        key = self.wallet().signing_key if signed else None
        return AsyncLedgerClient(self.ledger, key, ca_cert=self.ca_cert, timeout=self.timeout)

    def channel_store(self) -> PayerStore:
        return PayerStore(self.home / "channels.db")

    def emit(self, data: dict[str, Any], human: Callable[[Console], None]) -> None:
        if self.json:
            typer.echo(json.dumps(data, sort_keys=True))
        else:
            human(Console(highlight=False))


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:
        raise CliError("internal: global options were not parsed")
    return found


def handled(fn: Callable[..., T]) -> Callable[..., T]:
    """Known failures become one `error: ...` line and exit code 1; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (CliError, WalletError, LedgerError, ChannelError, ValueError, OSError) as exc:
            err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
