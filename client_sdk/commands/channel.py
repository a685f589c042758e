"""`btt channel open|list|pay|close|refund`: payment channels you pay into."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.channel import PayerChannel
from client_sdk.clikit import (
    CliError,
    State,
    format_btt,
    handled,
    parse_amount,
    parse_channel_id,
    run,
    state,
)
from client_sdk.p2p import PayeeClient
from core.status import ChannelStatus
from core.wire import CHANNEL_STATUS_TO_PB, channel_status_from_pb

T = TypeVar("T")

channel_app = typer.Typer(help="Payment channels you pay into.", no_args_is_help=True)


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


def register(app: typer.Typer) -> None:
    app.add_typer(channel_app, name="channel")
