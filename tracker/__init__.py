"""An in-memory HTTP BitTorrent tracker with the bid extensions (`bidannounce`, `bidscrape`).

Ordinary clients use it unchanged (BEP 3 announce and scrape, BEP 23 compact peers, BEP 7
IPv6). The wire format of the extensions is specified in docs/tracker.md.

- `requests`: query strings -> typed requests, or a `Rejected` with the `failure reason`
- `swarms`: the in-memory state (peers per torrent, expiry, bounds, limits per address)
- `responses`: results -> bencoded answers
- `ratelimit`: requests per address (token buckets)
- `server`: the aiohttp application around them
"""
