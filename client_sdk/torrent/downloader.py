"""A libtorrent downloader that attributes every verified (or failed) piece to the peers
whose blocks made it up, so a payment layer pays only for good data."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt

from client_sdk.torrent.access import Clock, IpAccess
from client_sdk.torrent.alerts import AlertPump
from client_sdk.torrent.nodelay import CONNECTION_ALERTS as _CONNECTION_ALERTS
from client_sdk.torrent.nodelay import NoDelay
from client_sdk.torrent.peers import PeerKey, key_from_alert, key_from_info
from client_sdk.torrent.session import Geometry, info_hash_hex, make_session

# (info_hash, piece, {peer: bytes of that piece the peer delivered})
PieceHook = Callable[[str, int, Mapping[PeerKey, int]], None]

Endpoint = tuple[str, int]

log = logging.getLogger(__name__)

_DEFAULT_PRIORITY = 4  # libtorrent's default piece priority
HELD_REQUEST_QUEUE_TIME = 600  # seconds (libtorrent's default: 3), see hold_pieces


@dataclass(frozen=True)
class Progress:
    info_hash: str
    pieces_done: int
    pieces_total: int
    download_rate: int  # payload bytes/s, libtorrent's estimate
    verified_by_peer: Mapping[PeerKey, int]
    failed_by_peer: Mapping[PeerKey, int]

    @property
    def complete(self) -> bool:
        return self.pieces_total > 0 and self.pieces_done == self.pieces_total


class _Torrent:
    def __init__(self, handle: lt.torrent_handle) -> None:
        self.handle = handle
        self.geometry: Geometry | None = None
        # piece -> block -> peer that delivered it (first delivery wins)
        self.blocks: dict[int, dict[int, PeerKey]] = {}
        self.verified: dict[PeerKey, int] = {}
        self.failed: dict[PeerKey, int] = {}
        self.failed_pieces: list[tuple[int, dict[PeerKey, int]]] = []
        self.verified_pieces: set[int] = set()
        # piece -> block -> peer last asked for it: fallback when no block_finished_alert
        # comes (libtorrent skips it once the torrent is complete and its picker is gone).
        self.requested: dict[int, dict[int, PeerKey]] = {}
        # piece -> (passed hash check, settle deadline) while its block alerts are in flight
        self.pending: dict[int, tuple[bool, float]] = {}
        # Set by cache_flushed_alert: every write queued before flush_cache() is in the files.
        self.flushed = threading.Event()


class Downloader:
    """Downloads torrents in one session bound to `ip:port` and reports per-piece
    attribution through `on_piece_verified` / `on_piece_failed` (called on the alert thread)."""

    def __init__(
        self,
        ip: str,
        save_path: Path,
        port: int = 0,
        *,
        on_piece_verified: PieceHook | None = None,
        on_piece_failed: PieceHook | None = None,
        ban_sole_bad_peer: float | None = 60.0,
        clock: Clock = time.monotonic,
        download_limit: int = 0,
        settings: Mapping[str, Any] | None = None,
        pump_interval: float = 0.005,
    ) -> None:
        self.session = make_session(ip, port, download_limit=download_limit, extra=settings)
        self.ip = ip
        self.save_path = save_path
        self.on_piece_verified = on_piece_verified
        self.on_piece_failed = on_piece_failed
        self._ban_sole_bad_peer = ban_sole_bad_peer
        self.access = IpAccess(self.session, clock=clock)
        self._clock = clock
        # Seconds a verified or failed piece waits for its last block_finished alerts before
        # the missing blocks are put down to the peers they were last requested from (a guess).
        # The usual piece is settled at once, as soon as every block is attributed; the wait
        # only runs when libtorrent posts the verdict first, and a loaded machine can hold
        # those alerts back for a good part of a second.
        self.settle_timeout = 3.0
        self._lock = threading.Lock()
        self._torrents: dict[str, _Torrent] = {}
        self._nodelay = NoDelay(ip)
        self._nodelay.scan()
        self._new_connections = False
        self._pump = AlertPump(
            self.session,
            self._on_alerts,
            self._on_tick,
            interval=pump_interval,
            name="downloader",
        )
        self._pump.start()

    @property
    def port(self) -> int:
        return int(self.session.listen_port())

    def add(
        self,
        source: lt.torrent_info | Path | str,
        peers: Iterable[Endpoint] = (),
        *,
        sequential: bool = False,
    ) -> str:
        """Add a torrent from a torrent_info, a .torrent path or a magnet URI and connect to
        `peers`. Returns the v1 info hash (hex). Magnet metadata comes from the peers."""
        params = _params_for(source)
        params.save_path = str(self.save_path)
        params.flags |= lt.torrent_flags.apply_ip_filter
        params.flags &= ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed
        if sequential:
            params.flags |= lt.torrent_flags.sequential_download
        handle = self.session.add_torrent(params)
        ih = info_hash_hex(handle)
        entry = _Torrent(handle)
        if params.ti is not None:
            entry.geometry = Geometry.of(params.ti)
        with self._lock:
            self._torrents[ih] = entry
        self.connect(ih, peers)
        return ih

    def connect(self, info_hash: str, peers: Iterable[Endpoint]) -> None:
        handle = self._entry(info_hash).handle
        for ip, port in peers:
            handle.connect_peer((ip, int(port)))

    def hold_pieces(self, info_hash: str) -> None:
        """Request no piece of the torrent until `release_pieces` names it (a payer that asks
        only for what its paid seeders' windows let out)."""
        entry = self._entry(info_hash)
        if entry.geometry is None:
            raise ValueError("the torrent's metadata is not known yet")
        entry.handle.prioritize_pieces([0] * entry.geometry.num_pieces)
        # A released piece should be requested whole at once. libtorrent sizes a peer's request
        # queue as request_queue_time x its measured rate, a 5-second average that reads ~0
        # for the first seconds, and each gap between released pieces ends its slow start; a
        # long queue time makes the queue whole pieces deep (bounded by what is released).
        self.session.apply_settings({"request_queue_time": HELD_REQUEST_QUEUE_TIME})

    def release_pieces(self, info_hash: str, pieces: Iterable[int]) -> None:
        handle = self._entry(info_hash).handle
        for piece in pieces:
            handle.piece_priority(piece, _DEFAULT_PRIORITY)

    def ban(self, peer: PeerKey | str, seconds: float) -> float:
        """Disconnect `peer` and refuse it for `seconds`."""
        ip = peer.ip if isinstance(peer, PeerKey) else peer
        return self.access.ban(ip, seconds)

    def progress(self, info_hash: str) -> Progress:
        entry = self._entry(info_hash)
        st = entry.handle.status()
        with self._lock:
            verified = dict(entry.verified)
            failed = dict(entry.failed)
        total = entry.geometry.num_pieces if entry.geometry else 0
        return Progress(
            info_hash=info_hash,
            pieces_done=int(st.num_pieces),
            pieces_total=total,
            download_rate=int(st.download_payload_rate),
            verified_by_peer=verified,
            failed_by_peer=failed,
        )

    def failed_pieces(self, info_hash: str) -> list[tuple[int, dict[PeerKey, int]]]:
        entry = self._entry(info_hash)
        with self._lock:
            return list(entry.failed_pieces)

    def peers(self, info_hash: str) -> dict[PeerKey, int]:
        """Connected peers and payload bytes received from each on the current connection."""
        out: dict[PeerKey, int] = {}
        for p in self._entry(info_hash).handle.get_peer_info():
            key = key_from_info(p)
            out[key] = out.get(key, 0) + int(p.total_download)
        return out

    def wait_complete(self, info_hash: str, timeout: float) -> Progress:
        """Block until every piece is verified and written to the files; TimeoutError otherwise.

        A piece passes its hash check from libtorrent's store buffer, possibly before its
        blocks reach the file (the disk threads write them asynchronously), so `is_seeding`
        alone does not mean the file is whole: the disk cache is flushed and awaited too.
        """
        entry = self._entry(info_hash)
        deadline = time.monotonic() + timeout
        while True:
            st = entry.handle.status()
            if st.errc.value() != 0:
                raise RuntimeError(f"torrent {info_hash} failed: {st.errc.message()}")
            if st.is_seeding:
                self._pump.barrier()
                with self._lock:
                    settled = not entry.pending
                if settled:
                    self._flush(entry, deadline)
                    return self.progress(info_hash)
            if time.monotonic() > deadline:
                p = self.progress(info_hash)
                raise TimeoutError(
                    f"{info_hash}: {p.pieces_done}/{p.pieces_total} pieces after {timeout}s"
                )
            time.sleep(0.01)

    def _flush(self, entry: _Torrent, deadline: float) -> None:
        entry.flushed.clear()
        entry.handle.flush_cache()
        if not entry.flushed.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError("the downloaded data was not flushed to its files in time")

    def handle(self, info_hash: str) -> lt.torrent_handle:
        return self._entry(info_hash).handle

    @property
    def pump_errors(self) -> list[BaseException]:
        return self._pump.errors

    def close(self) -> None:
        self._pump.stop()
        with self._lock:
            entries = list(self._torrents.values())
            self._torrents.clear()
        for e in entries:
            self.session.remove_torrent(e.handle)
        self.session.pause()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _entry(self, info_hash: str) -> _Torrent:
        with self._lock:
            try:
                return self._torrents[info_hash]
            except KeyError:
                raise KeyError(f"not downloading {info_hash}") from None

    def _on_alerts(self, batch: Sequence[lt.alert]) -> None:
        for a in batch:
            if isinstance(a, lt.block_finished_alert):
                self._on_block(
                    info_hash_hex(a.handle),
                    int(a.piece_index),
                    int(a.block_index),
                    key_from_alert(a),
                )
            elif isinstance(a, lt.block_downloading_alert):
                self._on_request(
                    info_hash_hex(a.handle),
                    int(a.piece_index),
                    int(a.block_index),
                    key_from_alert(a),
                )
            elif isinstance(a, lt.torrent_finished_alert):
                self._settle_all(info_hash_hex(a.handle))
            elif isinstance(a, lt.piece_finished_alert):
                self._on_piece(info_hash_hex(a.handle), int(a.piece_index), ok=True)
            elif isinstance(a, lt.hash_failed_alert):
                self._on_piece(info_hash_hex(a.handle), int(a.piece_index), ok=False)
            elif isinstance(a, lt.cache_flushed_alert):
                with self._lock:
                    entry = self._torrents.get(info_hash_hex(a.handle))
                if entry is not None:
                    entry.flushed.set()
            elif isinstance(a, _CONNECTION_ALERTS):
                self._new_connections = True
            elif isinstance(a, lt.metadata_received_alert):
                ih = info_hash_hex(a.handle)
                ti = a.handle.torrent_file()
                with self._lock:
                    entry = self._torrents.get(ih)
                    if entry is not None and ti is not None:
                        entry.geometry = Geometry.of(ti)

    def _on_block(self, info_hash: str, piece: int, block: int, peer: PeerKey) -> None:
        with self._lock:
            entry = self._torrents.get(info_hash)
            if entry is None:
                return
            entry.blocks.setdefault(piece, {}).setdefault(block, peer)
            outcome = entry.pending.get(piece)
            ready = outcome is not None and self._covered(entry, piece)
        if ready and outcome is not None:
            self._settle(info_hash, piece, ok=outcome[0])

    def _on_request(self, info_hash: str, piece: int, block: int, peer: PeerKey) -> None:
        with self._lock:
            entry = self._torrents.get(info_hash)
            if entry is not None:
                entry.requested.setdefault(piece, {})[block] = peer

    def _settle_all(self, info_hash: str) -> None:
        with self._lock:
            entry = self._torrents.get(info_hash)
            pending = [] if entry is None else list(entry.pending.items())
        for piece, (ok, _deadline) in pending:
            self._settle(info_hash, piece, ok=ok)

    def _on_piece(self, info_hash: str, piece: int, *, ok: bool) -> None:
        # libtorrent may post piece_finished/hash_failed before the last block_finished
        # alerts of that piece, so settle only once every block is attributed (or on timeout).
        with self._lock:
            entry = self._torrents.get(info_hash)
            if entry is None:
                return
            if entry.geometry is None:
                # Magnet: the metadata alert may not have been handled yet.
                ti = entry.handle.torrent_file()
                if ti is None:
                    return
                entry.geometry = Geometry.of(ti)
            entry.pending[piece] = (ok, self._clock() + self.settle_timeout)
            ready = self._covered(entry, piece)
        if ready:
            self._settle(info_hash, piece, ok=ok)

    def _on_tick(self) -> None:
        if self._new_connections:
            self._new_connections = False
            self._nodelay.scan()
        self.access.expire()
        now = self._clock()
        with self._lock:
            late = [
                (ih, piece, ok)
                for ih, entry in self._torrents.items()
                for piece, (ok, deadline) in entry.pending.items()
                if deadline <= now
            ]
        for ih, piece, ok in late:
            self._settle(ih, piece, ok=ok)

    @staticmethod
    def _covered(entry: _Torrent, piece: int) -> bool:
        if entry.geometry is None:
            return False
        return len(entry.blocks.get(piece, ())) >= entry.geometry.blocks_in(piece)

    def _settle(self, info_hash: str, piece: int, *, ok: bool) -> None:
        with self._lock:
            entry = self._torrents.get(info_hash)
            if entry is None or entry.geometry is None or entry.pending.pop(piece, None) is None:
                return
            exact = self._covered(entry, piece)
            blocks = entry.requested.pop(piece, {})
            blocks.update(entry.blocks.pop(piece, {}))
            shares: dict[PeerKey, int] = {}
            for block, peer in blocks.items():
                shares[peer] = shares.get(peer, 0) + entry.geometry.block_length(piece, block)
            book = entry.verified if ok else entry.failed
            for peer, n in shares.items():
                book[peer] = book.get(peer, 0) + n
            if ok:
                entry.verified_pieces.add(piece)
            else:
                entry.failed_pieces.append((piece, shares))
        hook = self.on_piece_verified if ok else self.on_piece_failed
        if hook is not None:
            hook(info_hash, piece, shares)
        if not ok and self._ban_sole_bad_peer and len(shares) == 1:
            (bad,) = shares
            if exact:
                log.warning("banned %s: sole source of failed piece %d", bad.ip, piece)
                self.access.ban(bad.ip, self._ban_sole_bad_peer)
            else:  # some blocks are only guessed from requests: maybe another peer's data
                log.info("not banning %s for failed piece %d: attribution guessed", bad.ip, piece)


def _params_for(source: lt.torrent_info | Path | str) -> lt.add_torrent_params:
    if isinstance(source, lt.torrent_info):
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(source)
        return params
    if isinstance(source, Path):
        if not source.is_file():
            raise FileNotFoundError(f"no such .torrent file: {source}")
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(str(source))
        return params
    if isinstance(source, str) and source.startswith("magnet:"):
        try:
            return lt.parse_magnet_uri(source)
        except RuntimeError as exc:
            raise ValueError(f"bad magnet URI: {exc}") from exc
    raise ValueError(f"expected torrent_info, .torrent path or magnet URI, got {source!r}")
