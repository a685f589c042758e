"""`btt`: the wallet, ledger and payment-channel command line.

Human output by default, `--json` for scripts. Every option can come from the environment:
BTT_LEDGER, BTT_WALLET, BTT_PASSWORD (else a prompt), BTT_HOME (default ~/.btt), BTT_CA_CERT.
A bad argument or a refusal prints one line, `error: ...`, and exits 1.

The torrent commands (seed, download) live in their own module, with a `register(app)` that
`register_commands` calls. The installed `btt` (devnet.cli) adds the local-stack commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer._click.exceptions import ClickException  # typer vendors its own click
from typer.core import TyperGroup

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.channel import ChannelError, PayerChannel, PayerStore
from client_sdk.ledger_client import AsyncLedgerClient, LedgerClient, LedgerError
from client_sdk.p2p import PayeeClient
from client_sdk.wallet import Wallet, WalletError
from core.crypto import is_address
from core.status import ChannelStatus
from core.types import MAX_AMOUNT, UNITS_PER_BTT
from core.wire import CHANNEL_STATUS_TO_PB, channel_status_from_pb, event_kind_from_pb

T = TypeVar("T")

DEFAULT_LEDGER = "127.0.0.1:50051"

_err = Console(stderr=True, highlight=False)


class OneLineErrors(TyperGroup):
    """Usage errors (unknown option, missing argument) as one `error: ...` line, exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **kw: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kw)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kw)
        except ClickException as exc:
            _err.print(f"error: {exc.format_message()} (see --help)", markup=False)
            sys.exit(exc.exit_code)
        except typer.Abort:
            _err.print("error: aborted", markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="btt",
    cls=OneLineErrors,
    help="BitTorrent Token channels: wallet, ledger and payments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
wallet_app = typer.Typer(help="Create, import and show the keystore.", no_args_is_help=True)
channel_app = typer.Typer(help="Payment channels you pay into.", no_args_is_help=True)
app.add_typer(wallet_app, name="wallet")
app.add_typer(channel_app, name="channel")


class CliError(Exception):
    """A user-facing failure: printed as one `error: ...` line."""


# ---------------------------------------------------------------- amounts

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


# ---------------------------------------------------------------- context


@dataclass
class State:
    """Global options; commands registered from other modules read them via `state(ctx)`."""

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
            _err.print(f"error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@app.callback()
def _globals(
    ctx: typer.Context,
    ledger: Annotated[
        str, typer.Option("--ledger", envvar="BTT_LEDGER", help="Ledger gRPC target host:port.")
    ] = DEFAULT_LEDGER,
    home: Annotated[Path, typer.Option("--home", envvar="BTT_HOME", help="Data directory.")] = Path(
        "~/.btt"
    ),
    wallet: Annotated[
        Path | None,
        typer.Option("--wallet", envvar="BTT_WALLET", help="Keystore file [HOME/wallet.json]."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="BTT_PASSWORD", help="Keystore password (else asked)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ca_cert: Annotated[
        Path | None, typer.Option("--ca-cert", envvar="BTT_CA_CERT", help="TLS CA certificate.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", envvar="BTT_TIMEOUT", help="Seconds per ledger call.")
    ] = 10.0,
) -> None:
    home = home.expanduser()
    ctx.obj = State(
        ledger=ledger,
        home=home,
        wallet_path=(wallet or home / "wallet.json").expanduser(),
        password=password,
        json=as_json,
        ca_cert=ca_cert,
        timeout=timeout,
    )


# ---------------------------------------------------------------- wallet


@wallet_app.command("new")
@handled
def wallet_new(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing wallet.")] = False,
) -> None:
    """Create a new key, encrypted with a password."""
    s = state(ctx)
    w = Wallet.create(s.wallet_path, s.get_password(confirm=True), overwrite=force)
    s.emit(
        {"address": w.address, "path": str(w.path)},
        lambda c: c.print(f"created wallet {w.path}\naddress {w.address}"),
    )


@wallet_app.command("import")
@handled
def wallet_import(
    ctx: typer.Context,
    private_key: Annotated[
        str | None,
        typer.Option("--key", envvar="BTT_PRIVATE_KEY", help="64 hex characters (else asked)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing wallet.")] = False,
) -> None:
    """Import an existing private key."""
    s = state(ctx)
    secret = private_key or typer.prompt("Private key (hex)", hide_input=True)
    w = Wallet.import_hex(s.wallet_path, secret, s.get_password(confirm=True), overwrite=force)
    s.emit(
        {"address": w.address, "path": str(w.path)},
        lambda c: c.print(f"imported into {w.path}\naddress {w.address}"),
    )


@wallet_app.command("show")
@handled
def wallet_show(ctx: typer.Context) -> None:
    """Show the wallet's address (asks for the password to prove it opens)."""
    s = state(ctx)
    w = s.wallet()
    s.emit(
        {"address": w.address, "path": str(w.path)},
        lambda c: c.print(f"address {w.address}\npath    {w.path}"),
    )


# ---------------------------------------------------------------- account


@app.command()
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


@app.command()
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


@app.command()
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


# ---------------------------------------------------------------- channels


def _label(status: ChannelStatus | None) -> str:
    return status.label() if status else "unknown"


def channel_json(ch: pb.Channel) -> dict[str, Any]:
    return {
        "channel_id": bytes(ch.channel_id).hex(),
        "payer": ch.payer,
        "payee": ch.payee,
        "deposit": ch.deposit,
        "expiry": ch.expiry,
        "status": _label(channel_status_from_pb(ch.status)),
        "best_nonce": ch.best_nonce,
        "best_cumulative": ch.best_cumulative,
        "paid_to_payee": ch.paid_to_payee,
        "refunded_to_payer": ch.refunded_to_payer,
    }


async def _with_channel(
    s: State, channel_id: bytes, work: Callable[[PayerChannel], Coroutine[Any, Any, T]]
) -> T:
    store = s.channel_store()
    ledger = s.async_client()
    record = store.get(channel_id)
    if record is None:
        store.close()
        await ledger.close()
        raise CliError(f"no local record of channel {channel_id.hex()} in {store.path}")
    payee = PayeeClient(record.payee_endpoint, timeout=s.timeout)
    try:
        channel = await PayerChannel.resume(
            channel_id, key=s.wallet().signing_key, ledger=ledger, payee=payee, store=store
        )
        return await work(channel)
    finally:
        await payee.close()
        await ledger.close()
        store.close()


@channel_app.command("open")
@handled
def channel_open(
    ctx: typer.Context,
    payee: Annotated[str, typer.Argument(help="The payee's service, host:port.")],
    info_hash: Annotated[str, typer.Option("--info-hash", help="Torrent info hash (hex).")],
    bid: Annotated[str, typer.Option(help="Offer per piece: BTT or base units (10u).")],
    deposit: Annotated[str | None, typer.Option(help="Deposit [the payee's suggestion].")] = None,
    peer: Annotated[str, typer.Option(help="Your BitTorrent endpoint ip:port.")] = "",
) -> None:
    """Open a channel to a payee: it signs the refund first, then the deposit locks."""
    s = state(ctx)
    bid_units = parse_amount(bid)
    deposit_units = parse_amount(deposit) if deposit is not None else None

    async def work() -> PayerChannel:
        store = s.channel_store()
        ledger = s.async_client()
        client = PayeeClient(payee, timeout=s.timeout)
        try:
            return await PayerChannel.open(
                key=s.wallet().signing_key,
                ledger=ledger,
                payee=client,
                store=store,
                info_hash=info_hash,
                peer_endpoint=peer,
                bid=bid_units,
                deposit=deposit_units,
            )
        finally:
            await client.close()
            await ledger.close()
            store.close()

    ch = run(work())
    s.emit(
        {
            "channel_id": ch.channel_id.hex(),
            "payee": ch.record.payee,
            "deposit": ch.deposit,
            "expiry": ch.expiry,
            "rate": ch.rate,
        },
        lambda c: c.print(
            f"opened channel {ch.channel_id.hex()}\n"
            f"payee {ch.record.payee}, deposit {format_btt(ch.deposit)}, "
            f"rate {format_btt(ch.rate)}/piece, expiry {ch.expiry}"
        ),
    )


@channel_app.command("list")
@handled
def channel_list(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open, closing, settled or all.")] = "all",
) -> None:
    """Channels where your wallet is payer or payee."""
    s = state(ctx)
    wanted = {c.label(): CHANNEL_STATUS_TO_PB[c] for c in ChannelStatus}
    if status != "all" and status not in wanted:
        raise CliError(f"invalid status {status!r}: use open, closing, settled or all")
    with s.client() as client:
        address = s.wallet().address
        found = client.list_channels(
            address, wanted.get(status, pb.CHANNEL_STATUS_UNSPECIFIED), limit=1000
        )
    rows = [channel_json(ch) for ch in found]

    def human(c: Console) -> None:
        table = Table("channel", "role", "status", "deposit", "paid", "expiry")
        for r in rows:
            role = "payer" if r["payer"] == address else "payee"
            paid = r["paid_to_payee"] if r["status"] == "settled" else r["best_cumulative"]
            table.add_row(
                r["channel_id"][:16],
                role,
                r["status"],
                format_btt(r["deposit"]),
                format_btt(paid),
                str(r["expiry"]),
            )
        c.print(table if rows else "no channels")

    s.emit({"channels": rows}, human)


@channel_app.command("pay")
@handled
def channel_pay(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(help="Channel id (hex).")],
    amount: Annotated[str, typer.Argument(help="How much more to pay: BTT or base units.")],
) -> None:
    """Send the payee a signed update for `amount` more."""
    s = state(ctx)
    cid = parse_channel_id(channel_id)
    units = parse_amount(amount)
    receipt = run(_with_channel(s, cid, lambda ch: ch.pay(units)))
    s.emit(
        {
            "channel_id": cid.hex(),
            "nonce": receipt.best_nonce,
            "cumulative": receipt.best_cumulative,
            "note": receipt.reason,
        },
        lambda c: c.print(
            f"paid; payee holds nonce {receipt.best_nonce}, "
            f"{format_btt(receipt.best_cumulative)} in total"
        ),
    )


@channel_app.command("close")
@handled
def channel_close(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(help="Channel id (hex).")],
    unilateral: Annotated[
        bool, typer.Option("--unilateral", help="Start the challenge window instead.")
    ] = False,
) -> None:
    """Close cooperatively (the payee co-signs), or start a unilateral close."""
    s = state(ctx)
    cid = parse_channel_id(channel_id)

    async def work(ch: PayerChannel) -> pb.Channel:
        return await (ch.request_close() if unilateral else ch.cooperative_close())

    result = run(_with_channel(s, cid, work))
    data = channel_json(result)
    s.emit(data, lambda c: c.print(f"channel {cid.hex()[:16]} is {data['status']}"))


@channel_app.command("refund")
@handled
def channel_refund(
    ctx: typer.Context, channel_id: Annotated[str, typer.Argument(help="Channel id (hex).")]
) -> None:
    """After expiry: take the deposit back (less the payee's best checkpoint)."""
    s = state(ctx)
    cid = parse_channel_id(channel_id)
    result = run(_with_channel(s, cid, lambda ch: ch.claim_refund()))
    data = channel_json(result)
    s.emit(
        data,
        lambda c: c.print(f"refunded {format_btt(result.refunded_to_payer)} from {cid.hex()[:16]}"),
    )


# ---------------------------------------------------------------- events


@app.command()
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


# ---------------------------------------------------------------- entry point


def register_commands() -> None:
    """Add the commands that live beside their features (torrent, tracker, funding)."""
    from client_sdk.funding.commands import register as register_funding
    from client_sdk.torrent.commands import register as register_torrent
    from client_sdk.tracker.command import register as register_bids

    register_torrent(app)
    register_bids(app)
    register_funding(app)


def main() -> None:
    register_commands()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    app()


if __name__ == "__main__":
    main()
