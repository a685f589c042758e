"""Loopback-friendly libtorrent sessions and torrent-file helpers."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt

DEFAULT_PIECE_SIZE = 256 * 1024
BLOCK_SIZE = 16 * 1024

ALERT_MASK: int = (
    lt.alert.category_t.error_notification
    | lt.alert.category_t.peer_notification
    | lt.alert.category_t.upload_notification
    | lt.alert.category_t.block_progress_notification
    | lt.alert.category_t.piece_progress_notification
    | lt.alert.category_t.status_notification
    | lt.alert.category_t.storage_notification
    | lt.alert.category_t.connect_notification
    | lt.alert.category_t.ip_block_notification
)


def session_settings(
    ip: str,
    port: int = 0,
    *,
    upload_limit: int = 0,
    download_limit: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Settings for a session that listens and connects out on exactly `ip`.

    Rate limits are applied to the `local` peer class as well as the global one: libtorrent puts
    private/loopback peers in `local` only, so a plain global limit would not bind on 127.0.0.x.
    """
    settings: dict[str, Any] = {
        "listen_interfaces": f"{ip}:{port}",
        # The remote side must see the same IP we listen on, or per-IP accounting splits.
        "outgoing_interfaces": ip,
        "alert_mask": ALERT_MASK,
        "alert_queue_size": 200_000,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # TCP only: one connection type keeps peer classes and endpoints predictable.
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        # Keep finished peers connected and reconnect quickly after a throttle/ban ends.
        "close_redundant_connections": False,
        "min_reconnect_time": 1,
        "upload_rate_limit": upload_limit,
        "download_rate_limit": download_limit,
        "user_agent": "btt-channels",
    }
    if extra:
        settings.update(extra)
    return settings


def make_session(
    ip: str,
    port: int = 0,
    *,
    upload_limit: int = 0,
    download_limit: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> lt.session:
    """A session bound to `ip:port` (port 0 picks a free one; read it with `listen_port()`)."""
    ses = lt.session(  # type: ignore[call-overload]  # the bindings accept a plain dict
        session_settings(
            ip, port, upload_limit=upload_limit, download_limit=download_limit, extra=extra
        )
    )
    if upload_limit or download_limit:
        # libtorrent assigns loopback/LAN peers the `local` class, which ignores global limits.
        local = ses.local_peer_class_id
        pc = ses.get_peer_class(local)
        pc["upload_limit"] = upload_limit
        pc["download_limit"] = download_limit
        ses.set_peer_class(local, pc)
    return ses


@dataclass(frozen=True)
class Geometry:
    """Piece layout of a torrent, cached so alert handlers need no libtorrent calls."""

    piece_length: int
    total_size: int
    num_pieces: int

    @classmethod
    def of(cls, ti: lt.torrent_info) -> Geometry:
        return cls(int(ti.piece_length()), int(ti.total_size()), int(ti.num_pieces()))

    def piece_size(self, piece: int) -> int:
        if not 0 <= piece < self.num_pieces:
            raise IndexError(f"piece {piece} out of range 0..{self.num_pieces - 1}")
        if piece < self.num_pieces - 1:
            return self.piece_length
        return self.total_size - self.piece_length * (self.num_pieces - 1)

    def block_length(self, piece: int, block: int) -> int:
        return max(0, min(BLOCK_SIZE, self.piece_size(piece) - block * BLOCK_SIZE))

    def blocks_in(self, piece: int) -> int:
        return -(-self.piece_size(piece) // BLOCK_SIZE)


def info_hash_hex(handle_or_info: lt.torrent_handle | lt.torrent_info) -> str:
    """The v1 info hash as lowercase hex; the key used throughout this package."""
    return str(handle_or_info.info_hashes().v1)


def write_test_file(path: Path, size: int, seed: int = 0) -> str:
    """Write `size` deterministic pseudo-random bytes; return their sha256 hex."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            data = rng.randbytes(min(left, 1 << 22))
            fh.write(data)
            digest.update(data)
            left -= len(data)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def create_torrent(
    content: Path,
    *,
    piece_size: int = DEFAULT_PIECE_SIZE,
    out: Path | None = None,
    trackers: Sequence[str] = (),
) -> lt.torrent_info:
    """Create a v1 .torrent for a file or directory, naming `trackers` (one tier each, in
    order); optionally write it to `out`. v1 only: some clients (aria2c) hash a hybrid v1+v2
    info dictionary to another info hash."""
    if piece_size < BLOCK_SIZE or piece_size & (piece_size - 1):
        raise ValueError(f"piece size must be a power of two >= {BLOCK_SIZE}, got {piece_size}")
    if not content.exists():
        raise FileNotFoundError(content)
    files = lt.list_files(str(content), lambda _path: True)
    ct = lt.create_torrent(files, piece_size, lt.create_torrent.v1_only)
    ct.set_creator("btt-channels")
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    lt.set_piece_hashes(ct, str(content.parent))
    encoded = lt.bencode(ct.generate())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(encoded)
    return lt.torrent_info(lt.bdecode(encoded))  # type: ignore[arg-type]  # a bdecoded dict
