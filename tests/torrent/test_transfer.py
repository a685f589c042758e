from __future__ import annotations

import threading
from pathlib import Path

import pytest

from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.peers import PeerKey
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import sha256_file
from tests.torrent.badseeder import start_bad_seeder
from tests.torrent.conftest import Content

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]


def test_plain_download_is_byte_identical(content: Content, tmp_path: Path, ips) -> None:
    with Seeder(next(ips)) as seeder, Downloader(next(ips), tmp_path / "dl") as dl:
        ih = seeder.add(content.ti, content.seed_dir)
        seeder.wait_seeding(ih)
        assert dl.add(content.ti, [seeder.endpoint]) == ih
        progress = dl.wait_complete(ih, timeout=15)
        assert progress.complete
        assert progress.pieces_done == content.num_pieces
        assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
        # The seeder counted every block it queued for this peer, the tail included.
        assert seeder.delivered(dl.ip, ih) >= content.size
        assert dl.pump_errors == [] and seeder.pump_errors == []


def test_magnet_download_gets_metadata_from_seeder(content: Content, tmp_path: Path, ips) -> None:
    import libtorrent as lt

    with Seeder(next(ips)) as seeder, Downloader(next(ips), tmp_path / "dl") as dl:
        ih = seeder.add(content.ti, content.seed_dir)
        seeder.wait_seeding(ih)
        magnet = lt.make_magnet_uri(content.ti)
        assert dl.add(magnet, [seeder.endpoint]) == ih
        progress = dl.wait_complete(ih, timeout=15)
        assert progress.pieces_total == content.num_pieces
        assert progress.verified_by_peer == {next(iter(progress.verified_by_peer)): content.size}
        assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256


def test_per_peer_block_accounting_adds_up_across_two_seeders(
    content: Content, tmp_path: Path, ips
) -> None:
    verified: list[tuple[int, dict[PeerKey, int]]] = []
    lock = threading.Lock()

    def on_verified(ih: str, piece: int, shares: dict[PeerKey, int]) -> None:
        with lock:
            verified.append((piece, dict(shares)))

    # Rate-limited seeders so that both of them get a share of the pieces.
    limit = 2 * 1024 * 1024
    with (
        Seeder(next(ips), upload_limit=limit) as s1,
        Seeder(next(ips), upload_limit=limit) as s2,
        Downloader(next(ips), tmp_path / "dl", on_piece_verified=on_verified) as dl,
    ):
        ih = s1.add(content.ti, content.seed_dir)
        s2.add(content.ti, content.seed_dir)
        s1.wait_seeding(ih)
        s2.wait_seeding(ih)
        dl.add(content.ti, [s1.endpoint, s2.endpoint])
        progress = dl.wait_complete(ih, timeout=20)

    with lock:
        pieces = sorted(p for p, _ in verified)
        total = sum(n for _, shares in verified for n in shares.values())
        by_ip: dict[str, int] = {}
        for _, shares in verified:
            for peer, n in shares.items():
                by_ip[peer.ip] = by_ip.get(peer.ip, 0) + n
    assert pieces == list(range(content.num_pieces))
    assert total == content.size
    assert set(by_ip) == {s1.ip, s2.ip}
    assert all(n > 0 for n in by_ip.values())
    assert sum(progress.verified_by_peer.values()) == content.size
    assert progress.failed_by_peer == {}
    assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256


def test_hash_failure_is_attributed_and_piece_refetched_from_good_seeder(
    content: Content, tmp_path: Path, ips
) -> None:
    bad_piece = 3
    failed: list[tuple[int, dict[PeerKey, int]]] = []
    verified_from: dict[int, set[str]] = {}

    def on_failed(ih: str, piece: int, shares: dict[PeerKey, int]) -> None:
        failed.append((piece, dict(shares)))

    def on_verified(ih: str, piece: int, shares: dict[PeerKey, int]) -> None:
        verified_from[piece] = {p.ip for p in shares}

    # The bad seeder has its own copy of the data so the good seeder's stays intact.
    import shutil

    bad_dir = tmp_path / "bad"
    shutil.copytree(content.seed_dir, bad_dir)
    bad, ih = start_bad_seeder(next(ips), content.ti, bad_dir, [bad_piece])
    with (
        bad,
        Seeder(next(ips)) as good,
        Downloader(
            next(ips), tmp_path / "dl", on_piece_verified=on_verified, on_piece_failed=on_failed
        ) as dl,
    ):
        good.add(content.ti, content.seed_dir)
        good.wait_seeding(ih)
        # Only the bad seeder at first, so the bad piece certainly comes from it.
        dl.add(content.ti, [bad.endpoint])
        deadline = __import__("time").monotonic() + 10
        while not failed and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.02)
        assert failed, "no hash failure reported"
        piece, shares = failed[0]
        assert piece == bad_piece
        assert set(shares) and {p.ip for p in shares} == {bad.ip}
        assert sum(shares.values()) == content.ti.piece_size(bad_piece)
        # A sole contributor of bad data gets banned.
        assert dl.access.is_banned(bad.ip)

        dl.connect(ih, [good.endpoint])
        progress = dl.wait_complete(ih, timeout=15)
    assert verified_from[bad_piece] == {good.ip}
    assert progress.failed_by_peer.get(next(iter(shares))) == content.ti.piece_size(bad_piece)
    assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
