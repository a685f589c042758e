"""`btt tracker` as a real process, used unchanged by clients nobody here wrote: libtorrent and
aria2c find each other through it alone (no DHT, LSD, peer exchange or hand-given peers)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_from_bytes

import libtorrent as lt
import pytest

from client_sdk.torrent.session import make_session, sha256_file
from client_sdk.tracker import Announce, TrackerClient
from tests.tracker.conftest import (
    ROOT,
    Shared,
    TrackerProcess,
    aria2c_command,
    btt_command,
    next_ip,
    shared_file,
)

pytestmark = pytest.mark.timeout(90)
SIZE = 3 * 1024 * 1024 + 4321


def scrape(tracker: TrackerProcess, info_hash: bytes) -> dict[bytes, int]:
    url = (
        tracker.announce.replace("/announce", "/scrape")
        + "?info_hash="
        + quote_from_bytes(info_hash)
    )
    with urllib.request.urlopen(url, timeout=5) as resp:
        return lt.bdecode(resp.read())[b"files"][info_hash]  # type: ignore[no-any-return,index]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def lt_peer(ip: str, shared: Shared, save_path: Path) -> tuple[lt.session, lt.torrent_handle]:
    ses = make_session(ip)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(shared.ti)
    params.save_path = str(save_path)
    return ses, ses.add_torrent(params)


def test_libtorrent_peers_meet_through_the_tracker(
    tracker_process: TrackerProcess, tmp_path: Path
) -> None:
    shared = shared_file(tmp_path, SIZE, [tracker_process.announce])
    seed_ses, seed = lt_peer(next_ip(), shared, shared.data_dir)
    wait_for(
        "the seeder to announce",
        lambda: scrape(tracker_process, shared.info_hash)[b"complete"] == 1,
    )
    dl_ses, dl = lt_peer(next_ip(), shared, tmp_path / "dl")
    try:
        wait_for("libtorrent to download", lambda: dl.status().is_seeding)
        assert sha256_file(tmp_path / "dl" / shared.name) == sha256_file(
            shared.data_dir / shared.name
        )
        wait_for(
            "the completed event",
            lambda: (
                scrape(tracker_process, shared.info_hash)
                == {b"complete": 2, b"downloaded": 1, b"incomplete": 0}
            ),
        )
    finally:
        dl_ses.remove_torrent(dl)
        seed_ses.remove_torrent(seed)


def test_aria2c_downloads_from_libtorrent_through_the_tracker(
    tracker_process: TrackerProcess, tmp_path: Path
) -> None:
    shared = shared_file(tmp_path, SIZE, [tracker_process.announce])
    seed_ses, seed = lt_peer(next_ip(), shared, shared.data_dir)
    try:
        wait_for(
            "the seeder to announce",
            lambda: scrape(tracker_process, shared.info_hash)[b"complete"] == 1,
        )
        out = tmp_path / "aria2"
        run = subprocess.run(
            ["timeout", "60", *aria2c_command(next_ip(), out, shared.torrent)],
            capture_output=True,
            text=True,
            timeout=75,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert sha256_file(out / shared.name) == sha256_file(shared.data_dir / shared.name)
        assert seed.status().total_payload_upload >= SIZE
    finally:
        seed_ses.remove_torrent(seed)


def test_libtorrent_downloads_from_an_aria2c_seeder_through_the_tracker(
    tracker_process: TrackerProcess, tmp_path: Path
) -> None:
    shared = shared_file(tmp_path, SIZE, [tracker_process.announce])
    aria = subprocess.Popen(
        ["timeout", "60", *aria2c_command(next_ip(), shared.data_dir, shared.torrent, seed=True)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dl_ses = None
    try:
        wait_for(
            "aria2c to announce as a seeder",
            lambda: scrape(tracker_process, shared.info_hash)[b"complete"] == 1,
        )
        dl_ses, dl = lt_peer(next_ip(), shared, tmp_path / "dl")
        wait_for("libtorrent to download from aria2c", lambda: dl.status().is_seeding)
        assert sha256_file(tmp_path / "dl" / shared.name) == sha256_file(
            shared.data_dir / shared.name
        )
    finally:
        aria.terminate()
        output = aria.communicate(timeout=15)[0]
        if dl_ses is None:
            print(output)


def test_btt_bids_shows_what_bidscrape_lists(
    tracker_process: TrackerProcess, tmp_path: Path
) -> None:
    info_hash = bytes(range(20))

    async def bid(ip: str, port: int, units: int) -> None:
        async with TrackerClient(local_ip=ip) as client:
            await client.announce(
                tracker_process.announce,
                Announce(
                    info_hash=info_hash,
                    peer_id=b"-XX0001-%012d" % port,
                    port=port,
                    left=5,
                    bid=units,
                ),
            )

    asyncio.run(bid(next_ip(), 7001, 2_500))
    asyncio.run(bid(next_ip(), 7002, 1_000_000))
    base = ["--home", str(tmp_path / "home")]
    run = subprocess.run(
        btt_command(*base, "--json", "bids", "--tracker", tracker_process.announce),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert shown["tracker"] == tracker_process.announce
    [row] = shown["torrents"]
    assert (row["info_hash"], row["highest"], row["count"]) == (info_hash.hex(), 1_000_000, 2)
    human = subprocess.run(
        btt_command(*base, "bids", "--tracker", tracker_process.announce),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert (
        human.returncode == 0 and info_hash.hex() in human.stdout and "1 BTT/piece" in human.stdout
    )
    refused = subprocess.run(
        btt_command(*base, "bids", "--tracker", tracker_process.announce, "--info-hash", "abc"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: invalid info hash 'abc': expected 40 hex characters"


def test_tracker_process_stops_cleanly_and_refuses_a_bad_listen(
    own_tracker: TrackerProcess,
) -> None:
    assert own_tracker.stop() == 0
    bad = subprocess.run(
        btt_command("tracker", "--listen", "nowhere:80"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "error: invalid --listen 'nowhere:80': expected ip:port or [ipv6]:port"
    )
