"""Tracker requests and answers as values: query strings out, bencoded answers in (pure)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import libtorrent as lt

HASH_LEN = 20


class TrackerError(Exception):
    """The tracker could not be reached, refused (`failure reason`) or answered nonsense."""


class TrackerHttpError(TrackerError):
    """The tracker answered with an HTTP status other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"tracker answered HTTP {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Announce:
    info_hash: bytes
    peer_id: bytes
    port: int
    left: int
    uploaded: int = 0
    downloaded: int = 0
    event: str = ""
    numwant: int | None = None
    bid: int | None = None
    """`bidannounce`: our bid in base units per piece (0 withdraws it)."""
    payee_port: int | None = None
    """`payee`: where our payee service listens, on the address we announce from."""
    bid_order: bool = False
    bid_min: int = 0

    def query(self) -> str:
        if len(self.info_hash) != HASH_LEN or len(self.peer_id) != HASH_LEN:
            raise ValueError("info_hash and peer_id must be 20 bytes")
        pairs: list[tuple[str, Any]] = [
            ("info_hash", self.info_hash),
            ("peer_id", self.peer_id),
            ("port", self.port),
            ("uploaded", self.uploaded),
            ("downloaded", self.downloaded),
            ("left", self.left),
            ("compact", 1),
        ]
        if self.event:
            pairs.append(("event", self.event))
        if self.numwant is not None:
            pairs.append(("numwant", self.numwant))
        if self.bid is not None:
            pairs.append(("bidannounce", self.bid))
        if self.payee_port is not None:
            pairs.append(("payee", self.payee_port))
        if self.bid_order:
            pairs.append(("bidorder", 1))
        if self.bid_min:
            pairs.append(("bidmin", self.bid_min))
        return urlencode(pairs)


@dataclass(frozen=True, slots=True)
class BidPeer:
    """A peer the tracker lists with bid data: a bidder, a paid seeder (payee port), or both."""

    ip: str
    port: int
    bid: int
    age: int
    """Seconds since the peer announced its bid (a hint: bids move between announces)."""
    payee_port: int

    @property
    def endpoint(self) -> str:
        return _endpoint(self.ip, self.port)

    @property
    def payee(self) -> str | None:
        """The peer's payee service `host:port`, if it sells."""
        return _endpoint(self.ip, self.payee_port) if self.payee_port else None


@dataclass(frozen=True, slots=True)
class AnnounceReply:
    interval: int
    min_interval: int | None = None
    complete: int = 0
    incomplete: int = 0
    peers: list[tuple[str, int]] = field(default_factory=list)
    bid_peers: list[BidPeer] = field(default_factory=list)
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class TorrentBids:
    """One `bidscrape` entry."""

    info_hash: str
    """Hex."""
    highest: int
    count: int
    age: int


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{query}"


def scrape_url(announce_url: str, name: str = "scrape") -> str:
    """The BEP 48 convention: `.../announce` -> `.../scrape` (or `bidscrape`)."""
    parts = urlsplit(announce_url)
    head, _, last = parts.path.rpartition("/")
    if not last.startswith("announce"):
        raise TrackerError(f"{announce_url} does not end in /announce: no {name} URL")
    return urlunsplit(parts._replace(path=f"{head}/{name}{last[len('announce') :]}"))


def bidscrape_url(announce_url: str) -> str:
    return scrape_url(announce_url, "bidscrape")


def parse_announce_reply(body: bytes) -> AnnounceReply:
    d = _decode(body)
    interval = _int(d, b"interval")
    peers = _peers(d.get(b"peers", b""), 4) + _peers(d.get(b"peers6", b""), 16)
    return AnnounceReply(
        interval=interval,
        min_interval=_int(d, b"min interval") if b"min interval" in d else None,
        complete=_int(d, b"complete") if b"complete" in d else 0,
        incomplete=_int(d, b"incomplete") if b"incomplete" in d else 0,
        peers=peers,
        bid_peers=[_bid_peer(e) for e in _list(d.get(b"bidpeers", []))],
        warning=_text(d[b"warning message"]) if b"warning message" in d else None,
    )


def parse_bidscrape_reply(body: bytes) -> list[TorrentBids]:
    """Entries with the highest bids first."""
    files = _decode(body).get(b"files", {})
    if not isinstance(files, dict):
        raise TrackerError("bidscrape answer: `files` is not a dictionary")
    out = []
    for ih, entry in files.items():
        if not isinstance(ih, bytes) or len(ih) != HASH_LEN or not isinstance(entry, dict):
            raise TrackerError("bidscrape answer: malformed entry")
        out.append(
            TorrentBids(
                ih.hex(), _int(entry, b"highest"), _int(entry, b"count"), _int(entry, b"age")
            )
        )
    return sorted(out, key=lambda t: (-t.highest, t.age, t.info_hash))


# ---------------------------------------------------------------- decoding


def _decode(body: bytes) -> dict[bytes, Any]:
    d: Any
    try:
        d = lt.bdecode(body)
    except RuntimeError:
        d = None
    if not isinstance(d, dict):
        raise TrackerError("the tracker's answer is not a bencoded dictionary")
    if b"failure reason" in d:
        raise TrackerError(f"tracker refused: {_text(d[b'failure reason'])}")
    return d


def _int(d: dict[bytes, Any], key: bytes) -> int:
    value = d.get(key)
    if not isinstance(value, int) or value < 0:
        raise TrackerError(f"the tracker's answer lacks a valid {key.decode()!r}")
    return value


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TrackerError("the tracker's answer has a malformed list")
    return value


def _peers(value: Any, ip_len: int) -> list[tuple[str, int]]:
    if isinstance(value, list):  # the BEP 3 dictionary model
        return [(_text(p[b"ip"]), _port(p.get(b"port"))) for p in value if isinstance(p, dict)]
    if not isinstance(value, bytes) or len(value) % (ip_len + 2):
        raise TrackerError("the tracker's compact peer list has a bad length")
    step = ip_len + 2
    return [
        (
            str(ipaddress.ip_address(value[i : i + ip_len])),
            int.from_bytes(value[i + ip_len : i + step]),
        )
        for i in range(0, len(value), step)
    ]


def _port(value: Any) -> int:
    if not isinstance(value, int) or not 0 < value < 65536:
        raise TrackerError("the tracker's answer has a bad port")
    return value


def _bid_peer(entry: Any) -> BidPeer:
    if not isinstance(entry, dict):
        raise TrackerError("bidpeers: an entry is not a dictionary")
    try:
        ip = str(ipaddress.ip_address(_text(entry.get(b"ip"))))
    except ValueError:
        raise TrackerError("bidpeers: bad ip") from None
    payee = entry.get(b"payee", 0)
    return BidPeer(
        ip=ip,
        port=_port(entry.get(b"port")),
        bid=_int(entry, b"bid"),
        age=_int(entry, b"age"),
        payee_port=_port(payee) if payee else 0,
    )


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
