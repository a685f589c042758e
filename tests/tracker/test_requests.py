"""Announce/scrape query parsing: raw bytes survive, bad input becomes a failure reason."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.requests import (
    AnnounceRequest,
    BidScrapeRequest,
    Event,
    Rejected,
    ScrapeRequest,
    parse_announce,
    parse_bidscrape,
    parse_scrape,
    query_pairs,
)

IH = bytes(range(20))
PID = b"-LT2110-\x00\xff\x7e+&=%abcde"


def q(**params: bytes | str | int) -> str:
    return "&".join(
        f"{k}={quote_from_bytes(v) if isinstance(v, bytes) else v}" for k, v in params.items()
    )


def announce(**params: bytes | str | int) -> AnnounceRequest | Rejected:
    base: dict[str, bytes | str | int] = {"info_hash": IH, "peer_id": PID, "port": 6881}
    return parse_announce(query_pairs(q(**{**base, **params})))


@given(st.binary(min_size=20, max_size=20), st.binary(min_size=20, max_size=20))
def test_any_20_raw_bytes_survive_percent_encoding(info_hash: bytes, peer_id: bytes) -> None:
    req = parse_announce(query_pairs(q(info_hash=info_hash, peer_id=peer_id, port=1)))
    assert isinstance(req, AnnounceRequest)
    assert (req.info_hash, req.peer_id) == (info_hash, peer_id)


def test_plus_in_a_query_is_a_space_byte() -> None:
    # Some clients leave 0x20 as '+': it must decode to the same 20 bytes.
    raw = "info_hash=" + quote_from_bytes(b"a" * 19) + "+&peer_id=" + "b" * 20 + "&port=1"
    req = parse_announce(query_pairs(raw))
    assert isinstance(req, AnnounceRequest)
    assert req.info_hash == b"a" * 19 + b" "


def test_full_announce_is_typed() -> None:
    req = announce(
        uploaded=5,
        downloaded=7,
        left=0,
        event="completed",
        numwant=12,
        compact=0,
        no_peer_id=1,
        bidannounce=1500,
        payee=50051,
        bidorder=1,
        bidmin=10,
        key="ignored",
        ip="203.0.113.9",
    )
    assert req == AnnounceRequest(
        info_hash=IH,
        peer_id=PID,
        port=6881,
        uploaded=5,
        downloaded=7,
        left=0,
        event=Event.COMPLETED,
        numwant=12,
        compact=False,
        no_peer_id=True,
        bid=1500,
        payee_port=50051,
        bid_order=True,
        bid_min=10,
    )
    assert req.seeding and req.speaks_bids


def test_defaults_of_a_minimal_announce() -> None:
    req = announce()
    assert isinstance(req, AnnounceRequest)
    assert req.compact and req.left is None and not req.seeding
    assert req.bid is None and req.payee_port is None and not req.speaks_bids
    assert req.event is Event.NONE


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"info_hash": b"short"}, "invalid info_hash: expected 20 bytes, got 5"),
        ({"peer_id": b"x" * 21}, "invalid peer_id: expected 20 bytes, got 21"),
        ({"port": 0}, "invalid port: expected 1..65535"),
        ({"port": 65536}, "invalid port: at most 65535"),
        ({"port": "-1"}, "invalid port: expected a non-negative integer"),
        ({"left": "1e3"}, "invalid left: expected a non-negative integer"),
        ({"numwant": "9" * 21}, "invalid numwant: expected a non-negative integer"),
        ({"event": "begun"}, "invalid event: expected started, completed, stopped or paused"),
        ({"compact": "yes"}, "invalid compact: expected 0 or 1"),
        ({"bidannounce": 10**18 + 1}, "invalid bidannounce: at most 1000000000000000000"),
        ({"bidannounce": "-5"}, "invalid bidannounce: expected a non-negative integer"),
        ({"payee": 70000}, "invalid payee: at most 65535"),
        ({"bidorder": 2}, "invalid bidorder: expected 0 or 1"),
        ({"bidmin": "x"}, "invalid bidmin: expected a non-negative integer"),
    ],
)
def test_bad_fields_are_rejected_with_a_reason(params: dict[str, object], reason: str) -> None:
    assert announce(**params) == Rejected(reason)  # type: ignore[arg-type]


def test_missing_and_repeated_fields() -> None:
    assert parse_announce(query_pairs(q(peer_id=PID, port=1))) == Rejected("missing info_hash")
    assert parse_announce(query_pairs(q(info_hash=IH, port=1))) == Rejected("missing peer_id")
    assert parse_announce(query_pairs(q(info_hash=IH, peer_id=PID))) == Rejected("missing port")
    twice = q(info_hash=IH, peer_id=PID, port=1) + "&port=2"
    assert parse_announce(query_pairs(twice)) == Rejected("port given more than once")


def test_scrape_needs_hashes_and_bounds_them() -> None:
    one = q(info_hash=IH)
    assert parse_scrape(query_pairs(one), max_hashes=2) == ScrapeRequest((IH,))
    assert parse_scrape(query_pairs(""), max_hashes=2) == Rejected(
        "full scrape is not served: name at least one info_hash"
    )
    three = "&".join(q(info_hash=bytes([i]) * 20) for i in range(3))
    assert parse_scrape(query_pairs(three), max_hashes=2) == Rejected(
        "too many info_hash values: at most 2 per request"
    )
    assert parse_scrape(query_pairs("info_hash=abc"), max_hashes=2) == Rejected(
        "invalid info_hash: expected 20 bytes, got 3"
    )


def test_bidscrape_hashes_and_limit() -> None:
    assert parse_bidscrape(query_pairs(""), max_hashes=4) == BidScrapeRequest((), None)
    req = parse_bidscrape(query_pairs(q(info_hash=IH) + "&limit=3"), max_hashes=4)
    assert req == BidScrapeRequest((IH,), 3)
    assert parse_bidscrape(query_pairs("limit=x"), max_hashes=4) == Rejected(
        "invalid limit: expected a non-negative integer"
    )
