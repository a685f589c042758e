"""Query strings -> typed tracker requests, or `Rejected` with the answer's `failure reason`.

Pure: no I/O, no clock. `info_hash` and `peer_id` are raw bytes percent-encoded in the query,
so the query is split with the standard library's bytes-aware `parse_qsl`, never as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

MAX_UNITS = 10**18
"""The ledger's ceiling on any amount: no bid above it can ever be paid."""
MAX_COUNTER = 2**63 - 1
HASH_LEN = 20

Pairs = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused request; `reason` becomes the bencoded `failure reason`."""

    reason: str


class Event(StrEnum):
    NONE = ""
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"
    PAUSED = "paused"  # BEP 21: a partial seed that downloads nothing more


@dataclass(frozen=True, slots=True)
class AnnounceRequest:
    info_hash: bytes
    peer_id: bytes
    port: int
    uploaded: int = 0
    downloaded: int = 0
    left: int | None = None
    """None when the client did not say: counted as a leecher."""
    event: Event = Event.NONE
    numwant: int | None = None
    compact: bool = True
    no_peer_id: bool = False
    bid: int | None = None
    """`bidannounce`: the client's bid in base units per piece; 0 withdraws it."""
    payee_port: int | None = None
    """`payee`: the port of the client's payee service at its announce address; 0 withdraws."""
    bid_order: bool = False
    """`bidorder=1`: highest bidders first."""
    bid_min: int = 0
    """`bidmin`: only peers bidding at least this (0: no filter)."""

    @property
    def seeding(self) -> bool:
        return self.left == 0

    @property
    def speaks_bids(self) -> bool:
        """Any extension parameter: the answer then carries `bidpeers`."""
        return (
            self.bid is not None
            or self.payee_port is not None
            or self.bid_order
            or self.bid_min > 0
        )


@dataclass(frozen=True, slots=True)
class ScrapeRequest:
    info_hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class BidScrapeRequest:
    info_hashes: tuple[bytes, ...]
    """Empty: the torrents with the highest bids, at most `limit`."""
    limit: int | None = None


def query_pairs(raw_query: str) -> Pairs:
    """The still percent-encoded query string -> (name, value) byte pairs, in order.

    Latin-1 maps every byte to one character and back, so the raw bytes survive unquoting.
    """
    pairs = parse_qsl(raw_query, keep_blank_values=True, encoding="latin-1")
    return [(k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in pairs]


def parse_announce(pairs: Pairs) -> AnnounceRequest | Rejected:
    try:
        q = _single(pairs, _ANNOUNCE_KEYS)
        bid_order = _flag(q, b"bidorder")
        request = AnnounceRequest(
            info_hash=_hash(q.get(b"info_hash"), "info_hash"),
            peer_id=_peer_id(q.get(b"peer_id")),
            port=_port(q.get(b"port"), "port", allow_zero=False),
            uploaded=_int(q.get(b"uploaded"), "uploaded", MAX_COUNTER) or 0,
            downloaded=_int(q.get(b"downloaded"), "downloaded", MAX_COUNTER) or 0,
            left=_int(q.get(b"left"), "left", MAX_COUNTER),
            event=_event(q.get(b"event")),
            numwant=_int(q.get(b"numwant"), "numwant", MAX_COUNTER),
            compact=_flag(q, b"compact", default=True),
            no_peer_id=_flag(q, b"no_peer_id"),
            bid=_int(q.get(b"bidannounce"), "bidannounce", MAX_UNITS),
            payee_port=_optional_port(q.get(b"payee"), "payee"),
            bid_order=bid_order,
            bid_min=_int(q.get(b"bidmin"), "bidmin", MAX_UNITS) or 0,
        )
    except _Bad as bad:
        return Rejected(str(bad))
    return request


def parse_scrape(pairs: Pairs, *, max_hashes: int) -> ScrapeRequest | Rejected:
    try:
        hashes = _hashes(pairs, max_hashes)
    except _Bad as bad:
        return Rejected(str(bad))
    if not hashes:
        return Rejected("full scrape is not served: name at least one info_hash")
    return ScrapeRequest(hashes)


def parse_bidscrape(pairs: Pairs, *, max_hashes: int) -> BidScrapeRequest | Rejected:
    try:
        hashes = _hashes(pairs, max_hashes)
        q = _single([(k, v) for k, v in pairs if k != b"info_hash"], (b"limit",))
        limit = _int(q.get(b"limit"), "limit", MAX_COUNTER)
    except _Bad as bad:
        return Rejected(str(bad))
    return BidScrapeRequest(hashes, limit)


# ---------------------------------------------------------------- fields

_ANNOUNCE_KEYS = (
    b"info_hash",
    b"peer_id",
    b"port",
    b"uploaded",
    b"downloaded",
    b"left",
    b"event",
    b"numwant",
    b"compact",
    b"no_peer_id",
    b"bidannounce",
    b"payee",
    b"bidorder",
    b"bidmin",
)


class _Bad(Exception):
    pass


def _single(pairs: Pairs, keys: tuple[bytes, ...]) -> dict[bytes, bytes]:
    """The parameters this request reads, each at most once; others (key, ip, ...) ignored."""
    out: dict[bytes, bytes] = {}
    for name, value in pairs:
        if name not in keys:
            continue
        if name in out:
            raise _Bad(f"{name.decode()} given more than once")
        out[name] = value
    return out


def _hash(value: bytes | None, name: str) -> bytes:
    if value is None:
        raise _Bad(f"missing {name}")
    if len(value) != HASH_LEN:
        raise _Bad(f"invalid {name}: expected {HASH_LEN} bytes, got {len(value)}")
    return value


def _peer_id(value: bytes | None) -> bytes:
    if value is None:
        raise _Bad("missing peer_id")
    if len(value) != HASH_LEN:
        raise _Bad(f"invalid peer_id: expected {HASH_LEN} bytes, got {len(value)}")
    return value


def _hashes(pairs: Pairs, max_hashes: int) -> tuple[bytes, ...]:
    hashes = tuple(dict.fromkeys(_hash(v, "info_hash") for k, v in pairs if k == b"info_hash"))
    if len(hashes) > max_hashes:
        raise _Bad(f"too many info_hash values: at most {max_hashes} per request")
    return hashes


def _int(value: bytes | None, name: str, limit: int) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 20:
        raise _Bad(f"invalid {name}: expected a non-negative integer")
    number = int(value)
    if number > limit:
        raise _Bad(f"invalid {name}: at most {limit}")
    return number


def _port(value: bytes | None, name: str, *, allow_zero: bool) -> int:
    if value is None:
        raise _Bad(f"missing {name}")
    port = _int(value, name, 65535) or 0
    if port == 0 and not allow_zero:
        raise _Bad(f"invalid {name}: expected 1..65535")
    return port


def _optional_port(value: bytes | None, name: str) -> int | None:
    return None if value is None else _port(value, name, allow_zero=True)


def _flag(q: dict[bytes, bytes], name: bytes, *, default: bool = False) -> bool:
    value = q.get(name)
    if value is None or value == b"":
        return default
    if value not in (b"0", b"1"):
        raise _Bad(f"invalid {name.decode()}: expected 0 or 1")
    return value == b"1"


def _event(value: bytes | None) -> Event:
    if value is None:
        return Event.NONE
    try:
        return Event(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _Bad("invalid event: expected started, completed, stopped or paused") from None
