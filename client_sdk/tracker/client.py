"""An HTTP tracker client (aiohttp) for the bid extensions; libtorrent does ordinary announces."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from urllib.parse import urlencode

import aiohttp

from client_sdk.tracker.wire import (
    Announce,
    AnnounceReply,
    TorrentBids,
    TrackerError,
    TrackerHttpError,
    bidscrape_url,
    parse_announce_reply,
    parse_bidscrape_reply,
    with_query,
)

MAX_REPLY_BYTES = 1 << 20


class TrackerClient:
    """Requests go out from `local_ip` when given: a tracker lists the address it sees, so a
    client must announce from the address its BitTorrent session listens on."""

    def __init__(self, *, local_ip: str | None = None, timeout: float = 10.0) -> None:
        self._local_ip = local_ip
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def announce(self, announce_url: str, announce: Announce) -> AnnounceReply:
        return parse_announce_reply(await self._get(with_query(announce_url, announce.query())))

    async def bidscrape(
        self, announce_url: str, info_hashes: Sequence[bytes] = (), limit: int | None = None
    ) -> list[TorrentBids]:
        pairs: list[tuple[str, object]] = [("info_hash", ih) for ih in info_hashes]
        if limit is not None:
            pairs.append(("limit", limit))
        url = bidscrape_url(announce_url)
        try:
            body = await self._get(with_query(url, urlencode(pairs)) if pairs else url)
        except TrackerHttpError as exc:
            if exc.status != 404:
                raise
            raise TrackerError(
                f"{url} does not exist (HTTP 404): the tracker does not offer bidscrape"
            ) from None
        return parse_bidscrape_reply(body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TrackerClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _get(self, url: str) -> bytes:
        if self._session is None:
            local = (self._local_ip, 0) if self._local_ip else None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=local), timeout=self._timeout
            )
        try:
            async with self._session.get(url, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise TrackerHttpError(resp.status)
                body = bytearray()
                async for chunk in resp.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > MAX_REPLY_BYTES:
                        raise TrackerError("the tracker's answer is too large")
                return bytes(body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TrackerError(f"cannot reach the tracker: {exc or type(exc).__name__}") from None
