"""What `btt download` and `btt seed` show a person: per peer of a download its status (paid at
a rate, or free and why, or banned), pieces, bytes and units paid; per payer of a seeder its
mode, rate, pieces served, units earned and exposure now; and the bans with their reasons."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table

from client_sdk.torrent.paid import DownloadSummary, PeerProgress

MIB = 1024 * 1024


def peer_status(p: PeerProgress) -> str:
    """'paid 500u/piece', 'free: lost the auction', 'banned: bad data'..."""
    if p.banned:
        return f"banned: {p.banned}"
    if p.paid and not p.free:
        return f"paid {p.rate:,}u/piece"
    return f"free: {p.free}" if p.free else "free"


def download_table(t: DownloadSummary) -> Table:
    return peers_table(t.peers, f"{t.info_hash}: {'complete' if t.complete else 'incomplete'}")


def peers_table(peers: Iterable[PeerProgress], title: str = "peers") -> Table:
    table = Table(title=title)
    for name, right in (
        ("peer", False),
        ("status", False),
        ("pieces", True),
        ("MiB", True),
        ("paid (units)", True),
        ("note", False),
    ):
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for p in peers:
        note = "; ".join(
            x
            for x in (
                p.note,
                f"possession {p.possession}" if p.possession else "",
                f"{p.failed_bytes:,} bytes failed" if p.failed_bytes else "",
            )
            if x
        )
        table.add_row(
            p.endpoint,
            peer_status(p),
            f"{p.pieces:,}",
            f"{p.bytes / MIB:.2f}",
            f"{p.units:,}",
            note,
        )
    return table


def payer_table(stats: Mapping[str, Any], title: str = "payers") -> Table:
    """One row per payer and torrent, from `PaidSeeder.stats()`."""
    table = Table(title=title)
    for name, right in (
        ("payer", False),
        ("torrent", False),
        ("mode", False),
        ("rate", True),
        ("pieces", True),
        ("earned (units)", True),
        ("exposure", True),
        ("note", False),
    ):
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for p in stats["peers"]:
        note = "banned" if p["banned"] else (p.get("choked_for") or "").lower().replace("_", " ")
        table.add_row(
            f"{p['payer'][:10]}… {p['ip']}",
            p["info_hash"][:12],
            p["mode"],
            f"{p['rate']:,}u" if p["rate"] else "-",
            f"{p['whole_pieces']:,}",
            f"{p['units_earned']:,}",
            f"{p['exposure_bytes'] / 1024:.0f} KiB",
            note,
        )
    return table


def ban_lines(bans: Iterable[Iterable[str]]) -> list[str]:
    return [f"banned {ip}: {why}" for ip, why in (tuple(b) for b in bans)]
