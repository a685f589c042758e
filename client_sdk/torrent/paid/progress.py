"""What a paid download reports: progress snapshots while it runs, a summary at the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PeerProgress:
    endpoint: str
    paid: bool
    rate: int  # units per piece (0: free)
    pieces: int  # verified pieces it delivered whole
    bytes: int  # verified bytes it delivered
    units: int  # paid to it so far
    failed_bytes: int
    note: str = ""
    free: str = ""
    """Why it serves us for free: "no bid", "below reserve", "lost the auction", "legacy" (no
    payee service), "no channel"; "" while we pay it."""
    bid: int = 0  # our bid there (units per piece)
    reserve: int | None = None  # its reserve price as it last told us
    banned: str = ""  # "bad data" (we banned it), "by the payee" (it banned us), "" if neither
    possession: str = ""
    """Our proof of possession to this paid seeder: "accepted", or why not; "" before one."""


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    info_hash: str
    pieces_done: int
    pieces_total: int
    download_rate: int  # bytes/s
    spent: int  # units signed over to payees
    locked: int  # units put into channels (deposits + top-ups)
    budget: int
    peers: tuple[PeerProgress, ...]


@dataclass(frozen=True, slots=True)
class DownloadSummary:
    info_hash: str
    complete: bool
    seconds: float
    transfer_seconds: float  # from connecting to the peers to the last verified piece
    size: int
    pieces: int
    spent: int
    locked: int
    budget: int
    peers: tuple[PeerProgress, ...]
    channels: tuple[dict[str, Any], ...]
    close_mode: str

    def to_json(self) -> dict[str, Any]:
        return {
            "info_hash": self.info_hash,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            "transfer_seconds": round(self.transfer_seconds, 3),
            "size": self.size,
            "pieces": self.pieces,
            "spent": self.spent,
            "locked": self.locked,
            "budget": self.budget,
            "close_mode": self.close_mode,
            "peers": [
                {
                    "endpoint": p.endpoint,
                    "paid": p.paid,
                    "rate": p.rate,
                    "pieces": p.pieces,
                    "bytes": p.bytes,
                    "units": p.units,
                    "failed_bytes": p.failed_bytes,
                    "note": p.note,
                    "free": p.free,
                    "bid": p.bid,
                    "reserve": p.reserve,
                    "banned": p.banned,
                    "possession": p.possession,
                }
                for p in self.peers
            ],
            "channels": list(self.channels),
        }


@dataclass(frozen=True, slots=True)
class DownloadsSummary:
    """Every torrent of one download session, and the budget they shared."""

    torrents: tuple[DownloadSummary, ...]
    seconds: float
    spent: int
    locked: int
    budget: int
    bids: tuple[dict[str, Any], ...] = ()
    """The autobid's bids as they were sent: {at, info_hash, bid, reason}."""

    @property
    def complete(self) -> bool:
        return all(t.complete for t in self.torrents)

    def to_json(self) -> dict[str, Any]:
        """The first torrent's summary (the whole of it when there is one), overridden by the
        totals, plus every torrent's under `torrents`."""
        return {
            **self.torrents[0].to_json(),
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            "spent": self.spent,
            "locked": self.locked,
            "budget": self.budget,
            "bids": list(self.bids),
            "torrents": [t.to_json() for t in self.torrents],
        }
