"""What every `btt` command module shares: the one-line error contract, amounts and ids,
the global options (`State`) and output in human or JSON form.

Command modules (client_sdk/commands/*, torrent, funding, tracker, devnet) import this module
only; `client_sdk.cli` builds the app from them, so there is no import cycle.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer._click.exceptions import ClickException  # typer vendors its own click
from typer._click.globals import get_current_context
from typer.core import TyperGroup

from client_sdk.channel import ChannelError, PayerStore
from client_sdk.cliargs import (
    ConfigFileError,
    config_path,
    default_map,
    hoist_globals,
    read_config,
)
from client_sdk.ledger_client import (
    AsyncLedgerClient,
    LedgerClient,
    LedgerError,
    LedgerUnavailable,
)
from client_sdk.wallet import Wallet, WalletError
from core.crypto import is_address
from core.types import MAX_AMOUNT, UNITS_PER_BTT

T = TypeVar("T")

hoist_global_options = hoist_globals  # the name tests and older callers use

DEFAULT_LEDGER = "127.0.0.1:50051"

err_console = Console(stderr=True, highlight=False)


class CliError(Exception):
    """A user-facing failure: printed as one `error: ...` line."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one `error: ...` line and exit."""
    err_console.print(f"error: {message}", markup=False, soft_wrap=True)
    sys.exit(code)


class OneLineErrors(TyperGroup):
    """Usage errors (unknown option, missing argument) as one `error: ...` line, exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **kw: Any,
    ) -> Any:
        args = hoist_globals(self, sys.argv[1:] if args is None else args)
        try:
            path = config_path(args)
            if path is not None and "default_map" not in kw:
                kw["default_map"] = default_map(self, read_config(path))
        except ConfigFileError as exc:
            if not standalone_mode:
                raise CliError(str(exc)) from None
            message = (
                str(exc) if str(exc).startswith("config file") else f"config file {path}: {exc}"
            )
            fail(message, 2)
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kw)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kw)
        except ClickException as exc:
            fail(f"{exc.format_message()} (see --help)", exc.exit_code)
        except typer.Abort:
            fail("aborted")
        sys.exit(code if isinstance(code, int) else 0)


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


def check_hex(text: str, what: str) -> str:
    """Hex characters (a 0x is dropped), lower case."""
    prefix = text.strip().lower().removeprefix("0x")
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        raise CliError(f"invalid {what} {text!r}: expected hex characters")
    return prefix


def resolve_prefix(text: str, known: Iterable[str], what: str, where: str = "") -> str:
    """The one id in `known` that starts with `text` (hex, any case): a whole id, or a prefix as
    `channel list` shows. None or several matching is a one-line error."""
    prefix = check_hex(text, what)
    found = sorted({k for k in known if k.startswith(prefix)})
    if not found:
        raise CliError(f"no {what} starting with {prefix}{where}")
    if len(found) > 1:
        shown = ", ".join(f[: len(prefix) + 4] for f in found[:3])
        raise CliError(
            f"{what} prefix {prefix} is ambiguous: {len(found)} match ({shown}"
            f"{', ...' if len(found) > 3 else ''}); give more characters"
        )
    return found[0]


def format_duration(seconds: float) -> str:
    """3d 4h, 2h 5m, 7m 12s, 40s: the two largest units."""
    left = int(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def format_time(epoch: int, now: float | None = None) -> str:
    """A ledger time (unix seconds) as a UTC date, and how far it is from now."""
    if epoch <= 0:
        return "-"
    now = time.time() if now is None else now
    date = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = epoch - now
    when = f"in {format_duration(delta)}" if delta >= 0 else f"{format_duration(delta)} ago"
    return f"{date} ({when})"


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
    password_file: Path | None = None
    _wallet: Wallet | None = field(default=None, repr=False)

    def get_password(self, *, confirm: bool = False) -> str:
        if self.password is None and self.password_file is not None:
            try:
                lines = self.password_file.read_text().splitlines()
            except OSError as exc:
                raise CliError(
                    f"cannot read the password file {self.password_file}: {exc.strerror}"
                ) from None
            self.password = lines[0] if lines else ""
        if self.password is None and not sys.stdin.isatty():
            # Piped in (`btt ... < file`): one line, no prompt or warning on the output.
            line = sys.stdin.readline()
            if not line:
                raise CliError(
                    "no wallet password: give --password-file (BTT_PASSWORD_FILE) or "
                    "BTT_PASSWORD, or type it on a terminal"
                )
            self.password = line.rstrip("\r\n")
        if self.password is None:
            try:
                self.password = typer.prompt(
                    "Wallet password", hide_input=True, confirmation_prompt=confirm
                )
            except typer.Abort:
                raise CliError(
                    "no wallet password: give --password-file (BTT_PASSWORD_FILE) or "
                    "BTT_PASSWORD, or type it on a terminal"
                ) from None
        return self.password

    def wallet(self) -> Wallet:
        if self._wallet is None:
            self._wallet = Wallet.load(self.wallet_path, self.get_password())
        return self._wallet

    def address(self) -> str:
        """Your wallet's address: read from the keystore, no password needed."""
        if self._wallet is not None:
            return self._wallet.address
        return Wallet.address_at(self.wallet_path)

    def _check_ca_cert(self) -> None:
        if self.ca_cert is not None and not self.ca_cert.is_file():
            raise CliError(f"cannot read the CA certificate {self.ca_cert} (--ca-cert)")

    def client(self, *, signed: bool = True) -> LedgerClient:
        self._check_ca_cert()
        key = self.wallet().signing_key if signed else None
        return LedgerClient(self.ledger, key, ca_cert=self.ca_cert, timeout=self.timeout)

    def async_client(self, *, signed: bool = True) -> AsyncLedgerClient:
        self._check_ca_cert()
        key = self.wallet().signing_key if signed else None
        return AsyncLedgerClient(self.ledger, key, ca_cert=self.ca_cert, timeout=self.timeout)

    def channel_store(self) -> PayerStore:
        return PayerStore(self.home / "channels.db")

    def emit(self, data: dict[str, Any], human: Callable[[Console], None]) -> None:
        if self.json:
            typer.echo(json.dumps(data, sort_keys=True))
        else:
            human(human_console())


def human_console() -> Console:
    """Standard output for people: the terminal's width, or no width limit in a pipe or a log
    (tables and ids are not cut at 80 columns)."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=1000)


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:
        raise CliError("internal: global options were not parsed")
    return found


def tls_hint(exc: LedgerUnavailable, ca_cert: Path | None) -> str:
    """Something answered but the call failed: most often TLS on one side only."""
    if "Connection refused" in exc.message or exc.code.name == "DEADLINE_EXCEEDED":
        return ""
    if ca_cert is None:
        return "; if it serves TLS, give its CA certificate with --ca-cert"
    return f"; is it serving TLS with a certificate from {ca_cert}?"


def handled(fn: Callable[..., T]) -> Callable[..., T]:
    """Known failures become one `error: ...` line and exit code 1; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except LedgerUnavailable as exc:
            found = get_current_context(silent=True)
            s = found.find_object(State) if found is not None else None
            hint = tls_hint(exc, s.ca_cert) if s is not None else ""
            err_console.print(f"error: {exc}{hint}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except (CliError, WalletError, LedgerError, ChannelError, ValueError, OSError) as exc:
            err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
