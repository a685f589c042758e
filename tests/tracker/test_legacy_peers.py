"""Peers that never bid (plain BitTorrent) at a paid seeder: served in libtorrent's round-robin
unchoke slots (the optimistic one, plus every paid slot left unsold under `serve`), or blocked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import libtorrent as lt
import pytest

from client_sdk.torrent.access import LegacyPeers
from client_sdk.torrent.paid import PaidSeeder, PaidSeederConfig
from client_sdk.torrent.session import make_session
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness
from tests.tracker.conftest import Shared, next_ip, shared_file

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@contextmanager
def legacy_swarm(
    ledger: LedgerHarness, tmp_path: Path, policy: LegacyPeers, leechers: int = 3
) -> Iterator[tuple[PaidSeeder, Shared, list[str]]]:
    shared = shared_file(tmp_path, 4 * 1024 * 1024, [])
    cfg = PaidSeederConfig(
        reserve=1000, paid_slots=4, choke_interval=1.0, legacy_peers=policy, upload_limit=64 * 1024
    )
    seller = PaidSeeder(
        next_ip(), SigningKey.generate(), ledger.target, tmp_path / "payee.db", config=cfg
    )
    seller.add(shared.ti, shared.data_dir)
    seller.start()
    sessions = []
    ips = [next_ip() for _ in range(leechers)]
    try:
        for ip in ips:
            ses = make_session(ip, extra={"enable_outgoing_utp": False})
            params = lt.add_torrent_params()
            params.ti = lt.torrent_info(shared.ti)
            params.save_path = str(tmp_path / ip)
            handle = ses.add_torrent(params)
            handle.connect_peer((seller.ip, seller.seeder.port))
            sessions.append((ses, handle))
        yield seller, shared, ips
    finally:
        for ses, handle in sessions:
            ses.remove_torrent(handle)
        seller.stop()


def unchoked(seller: PaidSeeder, shared: Shared, ips: list[str]) -> tuple[set[str], set[str]]:
    """(connected, unchoked) legacy IPs as the seeder sees them."""
    handle = seller.seeder.handle(shared.info_hash.hex())
    peers = [p for p in handle.get_peer_info() if str(p.ip[0]) in ips]
    connected = {str(p.ip[0]) for p in peers}
    return connected, {str(p.ip[0]) for p in peers if not p.flags & p.choked}


def sample(seller: PaidSeeder, shared: Shared, ips: list[str], seconds: float) -> list[set[str]]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connected, open_ = unchoked(seller, shared, ips)
        if connected == set(ips):
            seen.append(open_)
        time.sleep(0.1)
    return seen


def test_optimistic_serves_one_legacy_peer_at_a_time_round_robin(
    ledger: LedgerHarness, tmp_path: Path
) -> None:
    with legacy_swarm(ledger, tmp_path, LegacyPeers.OPTIMISTIC) as (seller, shared, ips):
        seen = sample(seller, shared, ips, 8.0)
    assert len(seen) > 20, "the legacy peers did not all connect"
    assert max(len(s) for s in seen) == 1
    # The slot rotates (libtorrent's round robin, every choke interval).
    assert len(set().union(*seen)) >= 2


def test_serve_lends_the_unsold_paid_slots_too(ledger: LedgerHarness, tmp_path: Path) -> None:
    with legacy_swarm(ledger, tmp_path, LegacyPeers.SERVE) as (seller, shared, ips):
        seen = sample(seller, shared, ips, 5.0)
        slots = seller.seeder.session.get_settings()["unchoke_slots_limit"]
        stats = seller.stats()
    # What they got is reported as sent to legacy peers, unpaid.
    legacy = {e["ip"]: e["sent_bytes"] for e in stats["legacy"]}
    assert set(legacy) == set(ips) and min(legacy.values()) > 0 and stats["peers"] == []
    # Nobody bids: 1 optimistic + 4 unsold paid slots, enough for all three.
    assert slots == 5
    assert seen and max(len(s) for s in seen) == 3


def test_block_turns_legacy_peers_away(ledger: LedgerHarness, tmp_path: Path) -> None:
    with legacy_swarm(ledger, tmp_path, LegacyPeers.BLOCK, leechers=2) as (seller, shared, ips):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(seller.seeder.refused(ip) for ip in ips):
            time.sleep(0.1)
        assert all(seller.seeder.refused(ip) > 0 for ip in ips)
        assert unchoked(seller, shared, ips) == (set(), set())
        assert seller.seeder.delivered(ips[0], shared.info_hash.hex()) == 0
        assert seller.stats()["legacy"] == []
