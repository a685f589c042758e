"""A real `btt tracker` process, torrents that name it, and the standard client aria2c."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import pytest

from client_sdk.torrent.session import write_test_file

ROOT = Path(__file__).resolve().parents[2]
ARIA2C = "aria2c"

# Peers and bids stay on the test trackers for this long, whatever the load on the machine:
# a test that announces a bid and then starts a `btt` process (slow to start on a busy machine)
# must find the bid still there. Expiry itself is tested with a controlled clock (test_swarms).
PEER_TIMEOUT = 3600

# Distinct loopback addresses per test run, so that nothing leaks between tests.
_octet3 = 10 + (os.getpid() + 97) % 200
_hosts = itertools.count(2)


def next_ip() -> str:
    return f"127.0.{_octet3}.{next(_hosts) % 250 + 2}"


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def btt_command(*args: str) -> list[str]:
    """The installed `btt` (the composition in devnet.cli), run by this interpreter."""
    return [sys.executable, "-c", "from devnet.cli import main; main()", *args]


@dataclass
class TrackerProcess:
    proc: subprocess.Popen[str]
    announce: str
    bidscrape: str

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def tracker_process() -> Iterator[TrackerProcess]:
    """One tracker per test module (starting a process is slow); tests use their own torrents."""
    yield from _tracker(interval=60)


@pytest.fixture(scope="module")
def fast_tracker() -> Iterator[TrackerProcess]:
    """Clients re-announce every 2 s: a seeder hears of new bids quickly."""
    yield from _tracker(interval=2)


@pytest.fixture
def own_tracker() -> Iterator[TrackerProcess]:
    """A tracker for one test alone (one that stops it)."""
    yield from _tracker(interval=60)


def _tracker(*, interval: int) -> Iterator[TrackerProcess]:
    ip = next_ip()
    proc = subprocess.Popen(
        btt_command(
            "--json",
            "tracker",
            "--listen",
            f"{ip}:0",
            "--interval",
            str(interval),
            "--min-interval",
            "1",
            "--peer-timeout",
            str(PEER_TIMEOUT),
            "--rate",
            "50",
            "--burst",
            "200",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"btt tracker did not start: {proc.stderr.read() if proc.stderr else ''}"
        info = json.loads(line)
        yield TrackerProcess(proc, info["announce"], info["bidscrape"])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=15)


@dataclass
class Shared:
    data_dir: Path
    torrent: Path
    ti: lt.torrent_info
    size: int

    @property
    def info_hash(self) -> bytes:
        return bytes.fromhex(str(self.ti.info_hashes().v1))

    @property
    def name(self) -> str:
        return str(self.ti.name())


def shared_file(root: Path, size: int, trackers: list[str], seed: int = 7) -> Shared:
    """A file and a .torrent naming `trackers` (written with libtorrent, as any client does)."""
    data_dir = root / "seed"
    path = data_dir / "payload.bin"
    write_test_file(path, size, seed=seed)
    # v1 only: aria2c hashes a hybrid (v1+v2) info dictionary to another info hash.
    files = lt.list_files(str(path), lambda _p: True)
    ct = lt.create_torrent(files, 64 * 1024, lt.create_torrent.v1_only)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    lt.set_piece_hashes(ct, str(data_dir))
    torrent = root / "payload.torrent"
    torrent.write_bytes(lt.bencode(ct.generate()))
    return Shared(data_dir, torrent, lt.torrent_info(str(torrent)), size)


def aria2c_path() -> str:
    found = shutil.which(ARIA2C)
    if found is None:
        pytest.fail(
            "aria2c is not installed: these tests drive the standard client aria2c "
            "(OS package `aria2`; scripts/test installs it where apt-get is usable)",
            pytrace=False,
        )
    return found


def aria2c_command(ip: str, out_dir: Path, torrent: Path, *, seed: bool = False) -> list[str]:
    """aria2c on `ip`, finding peers through trackers only (no DHT, LSD or peer exchange)."""
    cmd = [
        aria2c_path(),
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        f"--interface={ip}",
        f"--listen-port={free_port(ip)}",
        f"--dir={out_dir}",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--bt-tracker-interval=2",
    ]
    if seed:
        cmd += ["--check-integrity=true", "--seed-ratio=0.0"]
    else:
        cmd += ["--seed-time=0"]
    return [*cmd, str(torrent)]
