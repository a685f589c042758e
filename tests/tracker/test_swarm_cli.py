"""`btt seed --tracker` and `btt download` as real processes in a swarm found through a real
`btt tracker`, with the standard client aria2c on both sides of a paid peer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import libtorrent as lt
import pytest

from client_sdk.torrent.session import sha256_file, write_test_file
from tests.ledger_harness import LedgerHarness
from tests.tracker.conftest import (
    ROOT,
    TrackerProcess,
    aria2c_command,
    btt_command,
    next_ip,
    opentracker,
    shared_file,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def env() -> dict[str, str]:
    return {**os.environ, "BTT_PASSWORD": "correct horse"}


def btt(home: Path, ledger: LedgerHarness, *args: str) -> list[str]:
    return btt_command("--ledger", ledger.target, "--home", str(home), *args)


def wallet(home: Path, ledger: LedgerHarness) -> str:
    out = subprocess.run(
        btt(home, ledger, "--json", "wallet", "new"),
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["address"])


@contextmanager
def seeding(home: Path, ledger: LedgerHarness, *args: str) -> Iterator[dict[str, object]]:
    """`btt seed ... --json` until the block ends; yields its ready line."""
    proc = subprocess.Popen(
        btt(
            home,
            ledger,
            "--json",
            "seed",
            "--listen",
            f"{next_ip()}:0",
            "--choke-interval",
            "1",
            *args,
        ),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["stopped"] is True


def download(home: Path, ledger: LedgerHarness, out: Path, *args: str) -> dict[str, object]:
    run = subprocess.run(
        btt(
            home,
            ledger,
            "--json",
            "download",
            *args,
            "--listen",
            f"{next_ip()}:0",
            "--out",
            str(out),
            "--timeout",
            "60",
        ),
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_two_torrents_seeded_by_one_process_at_their_own_prices(
    tracker_process: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    wallet(tmp_path / "seeder", ledger)
    payer = wallet(tmp_path / "payer", ledger)
    ledger.fund(payer, 5_000_000)  # the payee asks 1 BTT at least per channel: one each
    # A file and a directory (a multi-file torrent).
    a, b = tmp_path / "share" / "a.bin", tmp_path / "share" / "album"
    write_test_file(a, 1024 * 1024 + 3, seed=1)
    write_test_file(b / "one.bin", 512 * 1024 + 9, seed=2)
    write_test_file(b / "two" / "three.bin", 256 * 1024 + 1, seed=3)
    with seeding(
        tmp_path / "seeder",
        ledger,
        str(a),
        str(b),
        "--reserve",
        "100u",
        "--reserve",
        "300u",
        "--tracker",
        tracker_process.announce,
        "--legacy-peers",
        "block",
    ) as ready:
        torrents = ready["torrents"]
        assert isinstance(torrents, list) and len(torrents) == 2
        ta, tb = torrents
        assert (ta["reserve"], tb["reserve"]) == (100, 300)
        assert ready["info_hash"] == ta["info_hash"] and ready["magnet"] == ta["magnet"]
        for t in torrents:
            assert f"tr={quote(tracker_process.announce, safe='').lower()}" in t["magnet"].lower()
            assert Path(t["torrent"]).is_file()
            meta = lt.bdecode(Path(t["torrent"]).read_bytes())
            assert meta[b"announce"] == tracker_process.announce.encode()
        # A magnet for one, a .torrent for the other; no --peer: the tracker finds the seeder.
        summary = download(
            tmp_path / "payer",
            ledger,
            tmp_path / "out",
            ta["magnet"],
            tb["torrent"],
            "--budget",
            "4",
        )
    assert summary["complete"] is True
    by_hash = {t["info_hash"]: t for t in summary["torrents"]}  # type: ignore[union-attr]
    got_a, got_b = by_hash[ta["info_hash"]], by_hash[tb["info_hash"]]
    assert got_a["spent"] == 100 * got_a["pieces"] and got_b["spent"] == 300 * got_b["pieces"]
    assert summary["spent"] == got_a["spent"] + got_b["spent"]
    assert sha256_file(tmp_path / "out" / "a.bin") == sha256_file(a)
    for part in ("one.bin", "two/three.bin"):
        assert sha256_file(tmp_path / "out" / "album" / part) == sha256_file(b / part)
    assert ledger.service.get_account(payer).balance == 5_000_000 - summary["spent"]


def test_aria2c_downloads_from_the_paid_seeder_and_seeds_to_a_paid_download(
    tracker_process: TrackerProcess, ledger: LedgerHarness, tmp_path: Path
) -> None:
    wallet(tmp_path / "seeder", ledger)
    payer = wallet(tmp_path / "payer", ledger)
    ledger.fund(payer, 5_000_000)
    film = tmp_path / "share" / "film.bin"
    write_test_file(film, 3 * 1024 * 1024 + 17, seed=3)
    with seeding(
        tmp_path / "seeder", ledger, str(film), "--tracker", tracker_process.announce
    ) as ready:
        torrent = Path(str(ready["torrent"]))
        # aria2c never bids: the paid seeder serves it as a legacy peer (the default).
        got = tmp_path / "aria2"
        run = subprocess.run(
            ["timeout", "90", *aria2c_command(next_ip(), got, torrent)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout[-2000:]
        assert sha256_file(got / "film.bin") == sha256_file(film)
    # Now aria2c seeds what it got, alone, and a paid `btt download` finds it by the tracker.
    aria = subprocess.Popen(
        ["timeout", "90", *aria2c_command(next_ip(), got, torrent, seed=True)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        summary = download(
            tmp_path / "payer", ledger, tmp_path / "out", str(torrent), "--budget", "1"
        )
    finally:
        aria.terminate()
        aria.wait(timeout=15)
    assert summary["complete"] is True and summary["spent"] == 0
    peers = summary["peers"]
    assert isinstance(peers, list) and peers and all(not p["paid"] for p in peers)
    assert sum(p["pieces"] for p in peers) == summary["pieces"]
    assert sha256_file(tmp_path / "out" / "film.bin") == sha256_file(film)


def test_seed_and_download_through_opentracker_as_plain_bittorrent(
    ledger: LedgerHarness, tmp_path: Path
) -> None:
    """opentracker knows nothing of bids or payee ports: `btt download` finds the paid seeder
    through it as a plain peer, the seeder serves it in its legacy slots (for free), and
    `btt bids` says plainly that this tracker has no bidscrape."""
    wallet(tmp_path / "seeder", ledger)
    payer = wallet(tmp_path / "payer", ledger)
    ledger.fund(payer, 5_000_000)
    shared = shared_file(tmp_path, 2 * 1024 * 1024 + 33, [], seed=5)
    torrent = shared.data_dir / "payload.torrent"  # `btt seed` finds the data beside it
    torrent.write_bytes(shared.torrent.read_bytes())
    with (
        opentracker([shared.info_hash]) as url,
        seeding(tmp_path / "seeder", ledger, str(torrent), "--tracker", url) as ready,
    ):
        assert ready["info_hash"] == shared.info_hash.hex()
        magnet = str(ready["magnet"])
        assert f"tr={quote(url, safe='').lower()}" in magnet.lower()
        summary = download(tmp_path / "payer", ledger, tmp_path / "out", magnet, "--budget", "1")
        bids = subprocess.run(
            btt(tmp_path / "payer", ledger, "bids", "--tracker", url),
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert summary["complete"] is True and summary["spent"] == 0
    peers = summary["peers"]
    assert isinstance(peers, list) and peers and all(not p["paid"] for p in peers)
    assert sha256_file(tmp_path / "out" / shared.name) == sha256_file(shared.data_dir / shared.name)
    assert ledger.service.get_account(payer).balance == 5_000_000
    assert bids.returncode == 1
    assert bids.stderr.strip() == (
        f"error: {url.replace('/announce', '/bidscrape')} does not exist (HTTP 404): "
        "the tracker does not offer bidscrape"
    )
