"""What the paid downloader reports: per peer (rate in force, pieces, bytes, units paid, why it
is free, bans), progress snapshots and the final summary."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.paid.bidding import FreeReason, payee_reason
from client_sdk.torrent.paid.progress import (
    DownloadsSummary,
    DownloadSummary,
    PeerProgress,
    ProgressSnapshot,
)
from client_sdk.torrent.paid.spending import Budget
from client_sdk.torrent.paid.state import (
    BidChange,
    CloseMode,
    Endpoint,
    PaidPeer,
    Tally,
    TorrentState,
)


def free_reason(p: PaidPeer | None) -> str:
    """Why a peer serves us for free now ("" while we pay it)."""
    if p is None:
        return FreeReason.LEGACY.value  # no payee service: plain BitTorrent
    if p.channel is None:
        return p.free.value if p.free is not None else ""
    service = p.service
    if service is None or service.mode == ppb.SERVICE_MODE_PAID:
        return ""
    if service.mode == ppb.SERVICE_MODE_CHOKED and service.reason in ("REPRICE", "BANNED"):
        return ""  # a new rate on its way; or no service at all
    if p.bid <= 0:
        return FreeReason.NO_BID.value
    return payee_reason(service.reason or "OUTBID").value  # FREE: the optimistic slot


def _banned(p: PaidPeer | None, by_us: bool, failed_bytes: int) -> str:
    """Why a peer is banned: by us for bad data, or by the payee (it bans payers)."""
    if by_us:
        return "bad data" if failed_bytes else "banned"
    if p is not None and p.service is not None and p.service.reason == "BANNED":
        return "by the payee"
    return ""


def _possession(p: PaidPeer | None) -> str:
    if p is None or p.proof is None:
        return ""
    return "accepted" if p.proof.accepted else (p.proof.reason or "refused")


class Reporting:
    """Mixed into `PaidDownloader`: the state below is its."""

    if TYPE_CHECKING:
        paid_specs: list[tuple[Endpoint, str]]
        bid_history: list[BidChange]
        free_peers: list[Endpoint]
        close_mode: CloseMode
        _downloads: list[TorrentState]
        _budget: Budget
        _dl: Downloader | None
        _lock: threading.Lock
        _t_connect: float

        @property
        def info_hash(self) -> str: ...
        @property
        def budget(self) -> int: ...
        @property
        def locked(self) -> int: ...
        def _all_paid(self) -> list[PaidPeer]: ...

    def _peers(self, d: TorrentState) -> tuple[PeerProgress, ...]:
        with self._lock:
            tally = {ip: Tally(t.pieces, t.bytes, t.failed) for ip, t in d.tally.items()}
        endpoints = dict(d.endpoints)
        endpoints.update({bt[0]: f"{bt[0]}:{bt[1]}" for bt, _ in self.paid_specs})
        endpoints.update({ip: f"{ip}:{port}" for ip, port in self.free_peers})
        out = []
        for ip in sorted(set(tally) | set(d.paid)):
            t = tally.get(ip, Tally())
            p = d.paid.get(ip)
            paid = p is not None and p.channel is not None
            banned = self._dl is not None and self._dl.access.is_banned(ip)
            out.append(
                PeerProgress(
                    endpoint=endpoints.get(ip, ip),
                    paid=paid,
                    rate=p.account.rate if p is not None and paid else 0,
                    pieces=t.pieces,
                    bytes=t.bytes,
                    units=p.channel.cumulative if p is not None and p.channel else 0,
                    failed_bytes=t.failed,
                    note="; ".join(filter(None, (p.note, p.choked))) if p is not None else "",
                    free=free_reason(p),
                    bid=p.bid if p is not None else 0,
                    reserve=p.reserve if p is not None else None,
                    banned=_banned(p, banned, t.failed),
                    possession=_possession(p),
                )
            )
        return tuple(out)

    def snapshot(self) -> ProgressSnapshot:
        """Progress over every torrent (pieces summed)."""
        dl = self._dl
        done = total = rate = 0
        if dl is not None:
            for d in self._downloads:
                if d.info_hash:
                    pr = dl.progress(d.info_hash)
                    done += pr.pieces_done
                    total += pr.pieces_total
                    rate += pr.download_rate
        return ProgressSnapshot(
            info_hash=self.info_hash if len(self._downloads) == 1 else "",
            pieces_done=done,
            pieces_total=total,
            download_rate=rate,
            spent=self.spent,
            locked=self.locked,
            budget=self.budget,
            peers=tuple(p for d in self._downloads for p in self._peers(d)),
        )

    @property
    def spent(self) -> int:
        return sum(p.channel.cumulative for p in self._all_paid() if p.channel is not None)

    def _summary(self, seconds: float) -> DownloadsSummary:
        return DownloadsSummary(
            torrents=tuple(self._torrent_summary(d, seconds) for d in self._downloads),
            seconds=seconds,
            spent=self.spent,
            locked=self.locked,
            budget=self.budget,
            bids=tuple(dataclasses.asdict(b) for b in self.bid_history),
        )

    def _torrent_summary(self, d: TorrentState, seconds: float) -> DownloadSummary:
        geo = d.geometry
        channels = tuple(
            {
                "channel_id": p.channel.channel_id.hex(),
                "payee": p.channel.record.payee,
                "payee_target": p.payee_target,
                "deposit": p.channel.deposit,
                "cumulative": p.channel.cumulative,
                "rate": p.account.rate,
                "status": p.channel.record.status_label,
                "errors": list(p.errors),
            }
            for p in d.paid.values()
            if p.channel is not None
        )
        return DownloadSummary(
            info_hash=d.info_hash,
            complete=d.complete,
            seconds=seconds,
            transfer_seconds=max(0.0, d.t_done - self._t_connect) if d.complete else 0.0,
            size=geo.total_size if geo else 0,
            pieces=geo.num_pieces if geo else 0,
            spent=sum(p.channel.cumulative for p in d.paid.values() if p.channel is not None),
            locked=self.locked,
            budget=self.budget,
            peers=self._peers(d),
            channels=channels,
            close_mode=self.close_mode.value,
        )
