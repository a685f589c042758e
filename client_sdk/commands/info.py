"""`btt info`: which ledger this is, how far its event stream has come, and your account."""

from __future__ import annotations

import typer
from rich.console import Console

from client_sdk.clikit import format_btt, format_duration, handled, state
from client_sdk.wallet import WalletNotFound
from core.version import package_version


@handled
def info(ctx: typer.Context) -> None:
    """The ledger's id, version and event-stream tip; your address and balance (no password)."""
    s = state(ctx)
    try:
        address: str | None = s.address()
    except WalletNotFound:
        address = None
    with s.client(signed=False) as client:
        ledger = client.get_info()
        account = client.account(address) if address else None
    data = {
        "ledger": s.ledger,
        "ledger_id": ledger.ledger_id,
        "ledger_version": ledger.version,
        "ledger_time": ledger.now,
        "last_event_id": ledger.last_event_id,
        "challenge_window_seconds": ledger.challenge_window_seconds,
        "client_version": package_version(),
        "address": address,
        "balance": account.balance if account else None,
        "nonce": account.nonce if account else None,
    }

    def human(c: Console) -> None:
        rows = [
            ("ledger", f"{s.ledger} (id {ledger.ledger_id}, version {ledger.version})"),
            ("event stream", f"tip #{ledger.last_event_id}"),
            ("challenge window", format_duration(ledger.challenge_window_seconds)),
            ("btt", package_version()),
        ]
        if account is not None:
            rows += [("address", str(address)), ("balance", format_btt(account.balance))]
        else:
            rows.append(("address", f"no wallet at {s.wallet_path} (btt wallet new)"))
        for name, value in rows:
            c.print(f"{name + ':':18}{value}", markup=False, soft_wrap=True)

    s.emit(data, human)


def register(app: typer.Typer) -> None:
    app.command()(info)
