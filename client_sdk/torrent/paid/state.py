"""What the paid downloader keeps per torrent and per paid seeder, and the user's controls."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel import PayerChannel
from client_sdk.p2p import PayeeClient
from client_sdk.torrent.market import SpendingRate
from client_sdk.torrent.paid.bidding import BidState, FreeReason
from client_sdk.torrent.paid.prover import ProofResult
from client_sdk.torrent.paid.spending import PayeeAccount
from client_sdk.torrent.paid.window import RequestWindow
from client_sdk.torrent.session import Geometry

Endpoint = tuple[str, int]


class CloseMode(enum.StrEnum):
    COOPERATIVE = "cooperative"
    LEAVE_TO_PAYEE = "leave"


def parse_endpoint(text: str | Endpoint) -> Endpoint:
    if isinstance(text, tuple):
        return (str(text[0]), int(text[1]))
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected ip:port, got {text!r}")
    return (host.strip("[]"), int(port))


@dataclass
class PaidPeer:
    """One paid seeder as the payer sees it: the decisions' state plus its connections."""

    bt: Endpoint
    payee_target: str
    client: PayeeClient
    account: PayeeAccount = field(default_factory=PayeeAccount)
    channel: PayerChannel | None = None
    bid: int = 0
    reserve: int | None = None
    free: FreeReason | None = None
    """Why it serves us for free now (None: we pay it, or it has not answered yet)."""
    tried: BidState | None = None
    """The market as we saw it at the last attempt to bid here."""
    opening: bool = False
    proof: ProofResult | None = None
    """Our proof of possession to it, once we held the whole torrent."""
    sent_bid: int = 0
    """The bid the payee holds (what we last sent it and it took)."""
    note: str = ""
    choked: str = ""
    """Why the payee says it chokes us now (its Watch stream); "" while served."""
    receipts: set[asyncio.Task[Any]] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None
    service: ppb.ServiceUpdate | None = None
    """The last update of its Watch stream."""
    watcher: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class BidChange:
    """The autobid moved a torrent's bid (sent to its paid seeders)."""

    at: float  # seconds since the download started
    info_hash: str
    bid: int
    reason: str  # FIRST, MOVED, USER_CHANGE (RebidReason)


@dataclass
class Tally:
    pieces: int = 0
    bytes: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Wanted:
    """One torrent to download and the user's controls for it."""

    source: lt.torrent_info | Path | str
    """A torrent_info, a .torrent path or a magnet URI."""
    bidding: bool = True
    """False: plain BitTorrent for this torrent, paying nobody."""
    spending_rate: SpendingRate | None = None
    """The autobid's spending rate for this torrent (None: the downloader's)."""


@dataclass
class TorrentState:
    """One torrent of the session: its paid seeders and what each peer delivered."""

    wanted: Wanted
    info_hash: str = ""
    geometry: Geometry | None = None
    paid: dict[str, PaidPeer] = field(default_factory=dict)  # seeder IP -> paid seeder
    tally: dict[str, Tally] = field(default_factory=dict)  # IP -> verified/failed counts
    endpoints: dict[str, str] = field(default_factory=dict)  # IP -> "ip:port" as we know it
    failed_pieces: list[int] = field(default_factory=list)
    # (piece, {ip: bytes}) of every verified piece, as libtorrent attributed it.
    verified_shares: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    complete: bool = False
    t_done: float = 0.0
    window: RequestWindow | None = None
    """Set while we ask only for what the paid seeders let out (see `_start_window`)."""

    @property
    def bidding(self) -> bool:
        return self.wanted.bidding
