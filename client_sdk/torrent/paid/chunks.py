"""Reading 16 KiB chunks of a seeded torrent from its files, for proofs of possession."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import libtorrent as lt

from client_sdk.torrent.market import CHUNK_SIZE


def chunk_reader(ti: lt.torrent_info, save_path: Path) -> Callable[[int, int], bytes]:
    """read_chunk(piece, chunk) from the files under `save_path`."""
    info = lt.torrent_info(ti)
    files = info.layout()

    def read(piece: int, chunk: int) -> bytes:
        start = chunk * CHUNK_SIZE
        size = min(CHUNK_SIZE, info.piece_size(piece) - start)
        out = bytearray()
        for s in info.map_block(piece, start, size):
            with (save_path / files.file_path(s.file_index)).open("rb") as fh:
                fh.seek(s.offset)
                out += fh.read(s.size)
        return bytes(out)

    return read
