"""Who a failed piece is blamed on. libtorrent may post a piece's verdict before its last
block_finished alerts, and on a loaded machine those can come late; the missing blocks are then
put down to the peers they were last requested from, a guess. A guess never bans: in a mixed
swarm the peer asked last for a block is often not the one that sent it, and banning on it cut
a paying download off from the one paid seeder it had (the paid-flow flake under a CPU hog).

The downloader's alert handlers are fed the events in the order libtorrent posts them in that
case, on a real session (no peer needed), with a manual clock."""

from __future__ import annotations

from pathlib import Path

from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.peers import PeerKey
from tests.torrent.conftest import Content

PAID = PeerKey("127.0.0.50", "aa")
BAD = PeerKey("127.0.0.51", "bb")


def test_a_guessed_sole_source_is_not_banned_an_exact_one_is(
    content: Content, tmp_path: Path, ips
) -> None:
    now = [0.0]
    failed: list[tuple[int, dict[str, int]]] = []
    dl = Downloader(
        next(ips),
        tmp_path / "dl",
        clock=lambda: now[0],
        on_piece_failed=lambda ih, piece, shares: failed.append(
            (piece, {p.ip: n for p, n in shares.items()})
        ),
    )
    try:
        ih = dl.add(content.ti)
        blocks = 256 * 1024 // (16 * 1024)
        # Piece 0: every block asked of the paid seeder, block 0 also of the bad peer, which
        # sent it; the verdict comes first and block 0's alert is late.
        for b in range(blocks):
            dl._on_request(ih, 0, b, PAID)
        for b in range(1, blocks):
            dl._on_block(ih, 0, b, PAID)
        dl._on_piece(ih, 0, ok=False)
        now[0] += dl.settle_timeout + 0.1
        dl._on_tick()  # settled on the guess: all of it from the paid seeder
        assert failed == [(0, {PAID.ip: 256 * 1024})]
        assert not dl.access.is_banned(PAID.ip)
        # Piece 1: every block attributed from its alerts, all from the bad peer: banned.
        for b in range(blocks):
            dl._on_request(ih, 1, b, BAD)
            dl._on_block(ih, 1, b, BAD)
        dl._on_piece(ih, 1, ok=False)
        assert failed[-1] == (1, {BAD.ip: 256 * 1024})
        assert dl.access.is_banned(BAD.ip)
    finally:
        dl.close()
