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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import pytest

from client_sdk.torrent.session import write_test_file

ROOT = Path(__file__).resolve().parents[2]
ARIA2C = "aria2c"
OPENTRACKER = "opentracker"

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


def shared_file(
    root: Path, size: int, trackers: list[str], seed: int = 7, name: str = "payload.bin"
) -> Shared:
    """A file and a .torrent naming `trackers` (written with libtorrent, as any client does)."""
    data_dir = root / "seed"
    path = data_dir / name
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


def opentracker_path() -> str:
    found = shutil.which(OPENTRACKER)
    if found is None:
        pytest.fail(
            "opentracker is not installed: these tests compare `btt tracker` with it and use it "
            "as a plain tracker (OS package `opentracker`; scripts/test installs it where "
            "apt-get is usable)",
            pytrace=False,
        )
    return found


@contextmanager
def opentracker(info_hashes: list[bytes]) -> Iterator[str]:
    """opentracker on a fresh loopback address; yields its announce URL. Its Debian build only
    tracks the torrents in its whitelist, which it reads inside the directory it chroots to (it
    drops root for `nobody`, hence a world-readable directory)."""
    root = Path(tempfile.mkdtemp(prefix="opentracker-"))
    try:
        root.chmod(0o755)
        (root / "whitelist").write_text("".join(f"{ih.hex()}\n" for ih in info_hashes))
        (root / "whitelist").chmod(0o644)
        ip = next_ip()
        port = free_port(ip)
        with socket.socket(type=socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
            udp = int(s.getsockname()[1])
        cmd = [opentracker_path(), "-i", ip, "-p", str(port), "-P", str(udp)]
        proc = subprocess.Popen(
            [*cmd, "-d", str(root), "-w", "/whitelist"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 15
            while True:
                with socket.socket() as probe:
                    if probe.connect_ex((ip, port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.communicate(timeout=5)[0] if proc.poll() is not None else ""
                    raise AssertionError(f"opentracker did not start: {out}")
                time.sleep(0.05)
            yield f"http://{ip}:{port}/announce"
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    finally:
        shutil.rmtree(root, ignore_errors=True)
