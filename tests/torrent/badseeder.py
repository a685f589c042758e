"""A seeder that misbehaves on purpose: it serves corrupted pieces."""

from __future__ import annotations

from pathlib import Path

import libtorrent as lt

from client_sdk.torrent.seeder import Seeder


def corrupt_piece(save_path: Path, ti: lt.torrent_info, piece: int) -> None:
    """Overwrite the first bytes of `piece` in the files under `save_path`, in place."""
    if not 0 <= piece < ti.num_pieces():
        raise IndexError(f"piece {piece} out of range 0..{ti.num_pieces() - 1}")
    for slice_ in ti.map_block(piece, 0, min(64, ti.piece_size(piece))):
        path = save_path / ti.layout().file_path(slice_.file_index)
        with path.open("r+b") as fh:
            fh.seek(slice_.offset)
            original = fh.read(slice_.size)
            fh.seek(slice_.offset)
            fh.write(bytes(b ^ 0xFF for b in original))


def start_bad_seeder(
    ip: str, ti: lt.torrent_info, save_path: Path, bad_pieces: list[int]
) -> tuple[Seeder, str]:
    """A seeder that serves corrupted data for `bad_pieces`.

    libtorrent's `seed_mode` still hashes each piece on its first request and leaves seed mode
    on a mismatch, so instead the files are corrupted after the normal check has passed;
    libtorrent reads blocks from disk when it serves them and sends the bad bytes.
    """
    seeder = Seeder(ip)
    ih = seeder.add(ti, save_path)
    seeder.wait_seeding(ih)
    for piece in bad_pieces:
        corrupt_piece(save_path, ti, piece)
    return seeder, ih
