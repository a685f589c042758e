"""Talking to HTTP trackers with the bid extensions (docs/tracker.md): announce with a bid or a
payee port, read the bidders and payees a tracker lists, and `bidscrape`."""

from client_sdk.tracker.client import TrackerClient
from client_sdk.tracker.wire import (
    Announce,
    AnnounceReply,
    BidPeer,
    TorrentBids,
    TrackerError,
    bidscrape_url,
    scrape_url,
)

__all__ = [
    "Announce",
    "AnnounceReply",
    "BidPeer",
    "TorrentBids",
    "TrackerClient",
    "TrackerError",
    "bidscrape_url",
    "scrape_url",
]
