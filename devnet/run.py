"""`btt demo`: the whole product on one machine, end to end.

A ledger (embedded SQLite), a local TRON node and the bridge; two downloaders funded by real
TRC-10 deposits through the bridge; one paid seeder (libtorrent + payee service + auction with
one paid slot) and one free, plain BitTorrent seeder; two downloaders with different bids pay per
verified piece; channels close; the seeder withdraws its earnings to TRON; the books reconcile.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from client_sdk.torrent.paid.downloader import DownloadSummary, PaidDownloader, ProgressSnapshot
from client_sdk.torrent.paid.seeder import PaidSeeder, PaidSeederConfig
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import create_torrent, sha256_file, write_test_file
from core.crypto import SigningKey
from core.types import UNITS_PER_BTT
from devnet.stack import DemoError, DemoStack, demo_stack

PAID_SEEDER_IP, FREE_SEEDER_IP = "127.0.0.2", "127.0.0.3"
# Uplinks (bytes/s), so that the swarm takes a few seconds to watch and both seeders matter.
PAID_SEEDER_RATE = 8 * 1024 * 1024
FREE_SEEDER_RATE = 2 * 1024 * 1024
RESERVE = 10_000  # units per piece: the paid seeder's floor (a lone bidder pays this)


@dataclass(frozen=True)
class Buyer:
    name: str
    ip: str
    deposit: int  # units deposited through the bridge
    budget: int  # units it may spend on this download
    bid: int  # units per piece


BUYERS = (
    Buyer("downloader-A", "127.0.0.4", 20 * UNITS_PER_BTT, 10 * UNITS_PER_BTT, 40_000),
    Buyer("downloader-B", "127.0.0.5", 8 * UNITS_PER_BTT, 4 * UNITS_PER_BTT, 25_000),
)


@dataclass
class DemoResult:
    ok: bool
    seconds: float
    file_sha256: str
    downloads: dict[str, DownloadSummary] = field(default_factory=dict)
    balances: list[dict[str, Any]] = field(default_factory=list)
    seeder_earned: int = 0
    withdrawal_txid: str = ""
    reconcile_ok: bool = False
    reconcile_difference: int = 0
    audit_balanced: bool = False
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "file_sha256": self.file_sha256,
            "downloads": {k: v.to_json() for k, v in self.downloads.items()},
            "balances": self.balances,
            "seeder_earned": self.seeder_earned,
            "withdrawal_txid": self.withdrawal_txid,
            "reconcile_ok": self.reconcile_ok,
            "reconcile_difference": self.reconcile_difference,
            "audit_balanced": self.audit_balanced,
            "failures": self.failures,
        }


def btt(units: int) -> str:
    return f"{units / UNITS_PER_BTT:,.6f}".rstrip("0").rstrip(".") + " BTT"


def run_demo(
    *,
    workdir: Path | None = None,
    size_mib: int = 16,
    console: Console | None = None,
    as_json: bool = False,
) -> DemoResult:
    console = console or Console(stderr=as_json)
    started = time.monotonic()
    base = workdir or Path(tempfile.mkdtemp(prefix="btt-demo-"))
    say = console.print
    with demo_stack(base) as stack:
        say(
            f"[bold]ledger[/] {stack.ledger_target} ({stack.ledger_id}), "
            f"[bold]TRON devnode[/] {stack.node.url}, [bold]bridge[/] {stack.bridge.address}"
        )
        say(f"token id {stack.token_id} plays BTT (TRC-10, 6 decimals)")

        seeder_key = SigningKey.generate()
        buyer_keys = {b.name: SigningKey.generate() for b in BUYERS}
        for b in BUYERS:
            key = buyer_keys[b.name]
            stack.give_tokens(key.address, b.deposit)
            txid = stack.deposit(key, b.deposit)
            say(
                f"{b.name} deposited {btt(b.deposit)} on chain (tx {txid[:16]}...), "
                "credited after solidification"
            )

        content = base / "share" / "demo.bin"
        digest = write_test_file(content, size_mib * 1024 * 1024, seed=7)
        ti = create_torrent(content, out=base / "demo.torrent")
        say(
            f"sharing {content.name}: {size_mib} MiB, {ti.num_pieces()} pieces "
            f"of {ti.piece_length() // 1024} KiB"
        )

        result = DemoResult(ok=False, seconds=0.0, file_sha256=digest)
        paid = PaidSeeder(
            PAID_SEEDER_IP,
            seeder_key,
            stack.ledger_target,
            base / "seeder-payee.db",
            config=PaidSeederConfig(
                paid_slots=1,
                reserve=RESERVE,
                choke_interval=1.0,
                min_bid_interval=1.0,
                upload_limit=PAID_SEEDER_RATE,
            ),
        )
        # The free seeder plays a legacy peer on a slow uplink, so paying buys real priority.
        free = Seeder(FREE_SEEDER_IP)
        for b in BUYERS:  # a class of its own per downloader, limited before it connects
            free.classes.assign(b.ip)
            free.classes.set_upload_limit(b.ip, FREE_SEEDER_RATE)
        try:
            paid.add(ti, content.parent)
            payee_target = paid.start()
            free.add(ti, content.parent)
            say(
                f"paid seeder {paid.bt_endpoint} (payee service {payee_target}, one paid slot); "
                f"free seeder {FREE_SEEDER_IP}:{free.port}"
            )
            result.downloads = _download_all(
                stack, ti, base, buyer_keys, paid, free, console, as_json
            )
        finally:
            paid.stop(close_channels=True)
            free.close()

        for name, summary in result.downloads.items():
            out = base / name / content.name
            if not summary.complete or sha256_file(out) != digest:
                result.failures.append(f"{name} did not finish with identical bytes")
        result.seeder_earned = stack.ledger_balance(seeder_key.address)
        if result.seeder_earned > 0:
            result.withdrawal_txid = stack.withdraw(seeder_key, result.seeder_earned)
            say(
                f"seeder withdrew {btt(result.seeder_earned)} to TRON "
                f"(tx {result.withdrawal_txid[:16]}...)"
            )
        else:
            result.failures.append("the paid seeder earned nothing")
        _settle_chain(stack)
        rec = stack.reconcile()
        audit = stack.audit()
        result.reconcile_ok, result.reconcile_difference = rec.ok, rec.difference
        result.audit_balanced = audit.balanced
        if not rec.ok:
            result.failures.append(f"reconcile difference {rec.difference}")
        if not audit.balanced:
            result.failures.append("ledger audit does not balance")
        parties = [("paid seeder", seeder_key)] + [(n, k) for n, k in buyer_keys.items()]
        result.balances = [
            {
                "party": name,
                "address": key.address,
                "ledger": stack.ledger_balance(key.address),
                "chain": stack.chain_balance(key.address),
            }
            for name, key in parties
        ] + [
            {
                "party": "bridge",
                "address": stack.bridge.address,
                "ledger": 0,
                "chain": stack.chain_balance(stack.bridge.address),
            }
        ]
    result.seconds = time.monotonic() - started
    result.ok = not result.failures
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_report(console, result)
    return result


def _download_all(
    stack: DemoStack,
    ti: Any,
    base: Path,
    keys: dict[str, SigningKey],
    paid: PaidSeeder,
    free: Seeder,
    console: Console,
    as_json: bool,
) -> dict[str, DownloadSummary]:
    summaries: dict[str, DownloadSummary] = {}
    errors: list[BaseException] = []
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} pieces"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    )
    with progress:
        tasks = {b.name: progress.add_task(b.name, total=ti.num_pieces(), info="") for b in BUYERS}

        def updater(name: str) -> Callable[[ProgressSnapshot], None]:
            def update(p: ProgressSnapshot) -> None:
                prices = ", ".join(
                    f"{x.endpoint} {x.rate}u/piece" for x in p.peers if x.paid and x.rate
                )
                progress.update(
                    tasks[name],
                    completed=p.pieces_done,
                    info=f"{p.download_rate / 1e6:5.1f} MB/s  spent {btt(p.spent)}  {prices}",
                )

            return update

        def download(b: Any) -> None:
            try:
                dl = PaidDownloader(
                    key=keys[b.name],
                    ledger_target=stack.ledger_target,
                    ip=b.ip,
                    out_dir=base / b.name,
                    source=ti,
                    budget=b.budget,
                    seeders=[(paid.bt_endpoint, paid.payee_target)],
                    peers=[f"{FREE_SEEDER_IP}:{free.port}"],
                    rate=b.bid,
                    timeout=90.0,
                )
                summaries[b.name] = dl.run(updater(b.name))
            except BaseException as exc:  # reported below, never a traceback
                errors.append(exc)

        threads = [threading.Thread(target=download, args=(b,)) for b in BUYERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    if errors:
        raise DemoError(f"a download failed: {errors[0]}") from errors[0]
    return summaries


def _settle_chain(stack: DemoStack) -> None:
    """Let the last blocks solidify and the bridge make one more pass before reconciling."""
    head = stack.bridge.gateway.head().number
    deadline = time.monotonic() + 20
    while stack.bridge.gateway.solid_head().number < head and time.monotonic() < deadline:
        time.sleep(0.1)
    stack.bridge.run_once()


def _print_report(console: Console, r: DemoResult) -> None:
    peers = Table(title="Pieces and prices per downloader")
    for col in ("downloader", "peer", "kind", "pieces", "rate / piece", "paid"):
        peers.add_column(col, justify="left" if col in ("downloader", "peer", "kind") else "right")
    for name, s in r.downloads.items():
        piece = max(1, -(-s.size // max(s.pieces, 1)))
        for p in s.peers:
            peers.add_row(
                name,
                p.endpoint,
                "paid" if p.paid else "free",
                f"{p.bytes / piece:.1f}",  # its share of verified data, in pieces
                f"{p.rate:,} units" if p.paid else "-",
                btt(p.units) if p.paid else "-",
            )
    console.print(peers)
    money = Table(title="Balances (ledger and TRON chain)")
    for col in ("party", "address", "ledger", "chain"):
        money.add_column(col, justify="right" if col in ("ledger", "chain") else "left")
    for row in r.balances:
        money.add_row(row["party"], row["address"], btt(row["ledger"]), btt(row["chain"]))
    console.print(money)
    status = "[green]OK[/]" if r.reconcile_ok else f"[red]MISMATCH {r.reconcile_difference}[/]"
    console.print(
        f"seeder earned {btt(r.seeder_earned)}, withdrawn on chain; reconcile {status}; "
        f"ledger audit {'balanced' if r.audit_balanced else 'NOT balanced'}; "
        f"{r.seconds:.1f} s"
    )
    for failure in r.failures:
        console.print(f"[red]failed:[/] {failure}")
