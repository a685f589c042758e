"""What a paid seeder reports: per payer and torrent its mode, the rate in force, pieces served,
units earned, bytes sent, paid, given and forgiven, and its exposure now (bytes handed to it
beyond what it has paid for or been given); per torrent the reserve and the uniform price;
bytes sent to peers that never bid; and every ban with its reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from client_sdk.channel.payee import PayeeChannel
from client_sdk.torrent.market import SellerMarket
from client_sdk.torrent.paid.payers import Mode, PayerAccount, PayerRoster


def payer_stats(p: PayerAccount, chans: Iterable[PayeeChannel], banned: bool) -> dict[str, Any]:
    chans = list(chans)
    return {
        "payer": p.payer,
        "ip": p.ip,
        "info_hash": p.info_hash,
        "mode": p.mode.value,
        "rate": p.paid.rate if p.mode is Mode.PAID else 0,
        "sent_bytes": p.sent,
        "paid_bytes": p.paid.value,
        "gift_bytes": p.gift,
        "forgiven_bytes": p.forgiven,
        "exposure_bytes": max(0, p.sent - p.credited),
        "whole_pieces": p.whole_pieces,
        "units_earned": sum(c.record.best_cumulative for c in chans),
        "failures": p.failures,
        "bans": p.bans,
        "banned": banned,
        "choked_for": p.choked_for.value if p.mode is Mode.CHOKED else "",
        "channels": [
            {
                "channel_id": c.channel_id.hex(),
                "status": c.record.status.label(),
                "deposit": c.record.deposit,
                "best_cumulative": c.record.best_cumulative,
                "owed": c.record.owed,
            }
            for c in chans
        ],
    }


def seeder_stats(
    torrents: Mapping[str, tuple[SellerMarket, PayerRoster]],
    channels: Iterable[PayeeChannel],
    now: float,
    is_banned: Callable[[str], bool],
    unpaid_sent: Mapping[str, int],
    bans: Iterable[tuple[str, str]],
) -> dict[str, Any]:
    by_payer: dict[tuple[str, str], list[PayeeChannel]] = {}
    for c in channels:
        by_payer.setdefault((c.payer, c.record.info_hash), []).append(c)
    peers = [
        payer_stats(p, by_payer.get((p.payer, p.info_hash), []), is_banned(p.ip))
        for _, roster in torrents.values()
        for p in roster
    ]
    return {
        "torrents": {
            ih: {
                "reserve": market.reserve.price(now),
                "rate": (market.auctioneer.last.rate or 0) if market.auctioneer.last else 0,
            }
            for ih, (market, _) in torrents.items()
        },
        "peers": peers,
        "legacy": [{"ip": ip, "sent_bytes": n} for ip, n in sorted(unpaid_sent.items())],
        "bans": [list(b) for b in bans],
        "units_earned": sum(p["units_earned"] for p in peers),
    }
