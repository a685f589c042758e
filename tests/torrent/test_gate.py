from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from client_sdk.torrent.access import UnknownPeerPolicy
from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.peers import PeerKey
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import BLOCK_SIZE, sha256_file
from tests.torrent.conftest import Content

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(30)]

PIECE = 256 * 1024


class Payer:
    """Credits the seeder for each verified piece, in process, until `stop_after` pieces."""

    def __init__(self, seeder: Seeder, payer_ip: str, stop_after: int | None = None) -> None:
        self.seeder = seeder
        self.payer_ip = payer_ip
        self.stop_after = stop_after
        self.paid = 0
        self.pieces = 0
        self._lock = threading.Lock()

    def on_verified(self, ih: str, piece: int, shares: dict[PeerKey, int]) -> None:
        owed = sum(n for p, n in shares.items() if p.ip == self.seeder.ip)
        with self._lock:
            if not owed or (self.stop_after is not None and self.pieces >= self.stop_after):
                return
            self.pieces += 1
            self.paid += owed
            paid = self.paid
        self.seeder.credit(self.payer_ip, ih, paid)


def gated_seeder(ip: str, window: int = PIECE, upload_limit: int = 0) -> Seeder:
    return Seeder(
        ip,
        gating=True,
        window=window,
        unknown_peers=UnknownPeerPolicy.BLOCK,
        upload_limit=upload_limit,
    )


def test_paying_downloader_completes_through_one_piece_window(
    content: Content, tmp_path: Path, ips
) -> None:
    dl_ip = next(ips)
    with gated_seeder(next(ips)) as seeder:
        payer = Payer(seeder, dl_ip)
        with Downloader(dl_ip, tmp_path / "dl", on_piece_verified=payer.on_verified) as dl:
            ih = seeder.add(content.ti, content.seed_dir)
            seeder.wait_seeding(ih)
            seeder.admit(dl_ip)
            dl.add(content.ti, [seeder.endpoint])
            dl.wait_complete(ih, timeout=20)
        assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
        acct = seeder.gate.account(dl_ip, ih)
        assert acct is not None
        assert acct.paid == content.size
        assert acct.complete == acct.delivered == content.size
        assert not acct.throttled
        assert seeder.pump_errors == []


def wait_cut_off(seeder: Seeder, dl: Downloader, ih: str, dl_ip: str, timeout: float) -> int:
    """Wait until the gate throttles `dl_ip` and the payer's received bytes stop growing."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        received = int(dl.handle(ih).status().total_payload_download)
        if received != last:
            last, since = received, time.monotonic()
        elif seeder.gate.is_throttled(dl_ip) and time.monotonic() - since > 0.5:
            return received
        time.sleep(0.02)
    raise TimeoutError(f"payer not cut off after {timeout}s: received {last}")


def test_payer_that_stops_paying_is_cut_off(content: Content, tmp_path: Path, ips) -> None:
    k = 4
    dl_ip = next(ips)
    # A slow link keeps the gate's reaction lag (L in gate.py) at zero, so the bound below is
    # the configured one: K paid pieces + W + F + send buffer watermark (F/2) + one block.
    with gated_seeder(next(ips), upload_limit=2 * 1024 * 1024) as seeder:
        payer = Payer(seeder, dl_ip, stop_after=k)
        with Downloader(dl_ip, tmp_path / "dl", on_piece_verified=payer.on_verified) as dl:
            ih = seeder.add(content.ti, content.seed_dir)
            seeder.wait_seeding(ih)
            seeder.admit(dl_ip)
            dl.add(content.ti, [seeder.endpoint])
            received = wait_cut_off(seeder, dl, ih, dl_ip, timeout=15)
            done = dl.progress(ih).pieces_done
        acct = seeder.gate.account(dl_ip, ih)
        assert payer.pieces == k
        assert done < content.num_pieces
        assert acct is not None and acct.paid == payer.paid  # K pieces, maybe the short tail
        window, inflight = seeder.gate.window, seeder.gate.inflight
        assert received <= payer.paid + window + inflight + inflight // 2 + BLOCK_SIZE, received
        # Credit was extended beyond what was paid (the gate is not stop-and-wait).
        assert received > payer.paid, received
        # Whole pieces held unpaid: W, plus at most a piece completed from the send buffer
        # after the throttle landed (here it is often the 12,345-byte tail piece).
        assert acct.sent_complete - acct.paid < window + PIECE, acct
        assert seeder.gate.is_throttled(dl_ip)


def test_ban_disconnects_and_expires(content: Content, tmp_path: Path, ips) -> None:
    now = [1000.0]
    dl_ip = next(ips)
    with Seeder(next(ips), clock=lambda: now[0]) as seeder:
        ih = seeder.add(content.ti, content.seed_dir)
        seeder.wait_seeding(ih)
        seeder.ban(dl_ip, 30)
        with Downloader(dl_ip, tmp_path / "dl") as dl:
            dl.add(content.ti, [seeder.endpoint])
            # The peer did try, and was turned away: not merely slow to connect.
            deadline = time.monotonic() + 10
            while seeder.refused(dl_ip) == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert seeder.refused(dl_ip) >= 1
            assert dl.progress(ih).pieces_done == 0
            assert [s for s in seeder.stats() if s.banned] == []  # nothing delivered yet
            assert seeder.access.is_banned(dl_ip)
            now[0] += 31
            time.sleep(0.1)
            assert not seeder.access.is_banned(dl_ip)
            dl.connect(ih, [seeder.endpoint])
            dl.wait_complete(ih, timeout=15)
        assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256


def test_mixed_swarm_completes_from_plain_seeder(content: Content, tmp_path: Path, ips) -> None:
    with (
        gated_seeder(next(ips)) as gated,
        Seeder(next(ips)) as plain,
        Downloader(next(ips), tmp_path / "dl") as dl,
    ):
        ih = gated.add(content.ti, content.seed_dir)
        plain.add(content.ti, content.seed_dir)
        gated.wait_seeding(ih)
        plain.wait_seeding(ih)
        dl.add(content.ti, [gated.endpoint, plain.endpoint])
        progress = dl.wait_complete(ih, timeout=15)
        assert {p.ip for p in progress.verified_by_peer} == {plain.ip}
        assert gated.delivered(dl.ip, ih) == 0
    assert sha256_file(tmp_path / "dl" / "payload.bin") == content.sha256
