"""`btt seed` and `btt download` as real processes against a real ledger."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from client_sdk.torrent.session import sha256_file, write_test_file
from client_sdk.wallet import Wallet
from tests.ledger_harness import LedgerHarness

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def btt(home: Path, ledger: LedgerHarness, *args: str, **kw: object) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from client_sdk.cli import main; main()",
        "--ledger",
        ledger.target,
        "--home",
        str(home),
        *args,
    ]


PASSWORD = "correct horse"


def env() -> dict[str, str]:
    return {**os.environ, "BTT_PASSWORD": PASSWORD}


def wallet(home: Path) -> str:
    """The keystore `btt wallet new` writes (that command runs as a process in tests/sdk), made
    in this process: every process start imports the whole SDK, and on a loaded machine a few
    of them one after another took this test past its time limit."""
    return Wallet.create(home / "wallet.json", PASSWORD).address


def test_seed_and_download_commands(ledger: LedgerHarness, tmp_path: Path) -> None:
    seeder_home, payer_home = tmp_path / "seeder", tmp_path / "payer"
    wallet(seeder_home)
    payer = wallet(payer_home)
    ledger.fund(payer, 5_000_000)
    content = tmp_path / "share" / "film.bin"
    digest = write_test_file(content, 3 * 1024 * 1024 + 123)
    bt_port, payee_port = free_port("127.0.0.41"), free_port("127.0.0.41")
    seed = subprocess.Popen(
        btt(
            seeder_home,
            ledger,
            "--json",
            "seed",
            str(content),
            "--listen",
            f"127.0.0.41:{bt_port}",
            "--payee-port",
            str(payee_port),
            "--reserve",
            "100u",
            "--choke-interval",
            "1",
            "--legacy-peers",
            "block",
        ),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert seed.stdout is not None
        info = json.loads(seed.stdout.readline())
        torrent = seeder_home / "torrents" / "film.bin.torrent"
        assert torrent.is_file() and info["paid_peer"] == (
            f"127.0.0.41:{bt_port}=127.0.0.41:{payee_port}"
        )
        dl = subprocess.run(
            btt(
                payer_home,
                ledger,
                "--json",
                "download",
                str(torrent),
                "--budget",
                "1",
                "--listen",
                "127.0.0.42:0",
                "--paid-peer",
                info["paid_peer"],
                "--rate",
                "500u",
                "--out",
                str(tmp_path / "out"),
            ),
            env=env(),
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
        )
        assert dl.returncode == 0, dl.stdout + dl.stderr
        summary = json.loads(dl.stdout)
        assert summary["complete"] and summary["spent"] > 0
        assert summary["spent"] <= 500 * summary["pieces"]
        assert sha256_file(tmp_path / "out" / "film.bin") == digest
        # Bidding off: the same paid peer becomes a plain peer, nobody is paid, and this
        # seeder (it serves only payers) gives nothing, so the download runs out of time.
        spent_before = ledger.service.get_account(payer).balance
        off = subprocess.run(
            btt(
                payer_home,
                ledger,
                "download",
                str(torrent),
                "--budget",
                "1",
                "--no-bid",
                "--listen",
                "127.0.0.43:0",
                "--paid-peer",
                info["paid_peer"],
                "--out",
                str(tmp_path / "out-nobid"),
                "--timeout",
                "3",
            ),
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert off.returncode != 0 and "download incomplete" in off.stderr, off.stderr
        assert ledger.service.get_account(payer).balance == spent_before
    finally:
        seed.send_signal(signal.SIGTERM)
        out, err = seed.communicate(timeout=60)
    assert seed.returncode == 0, err
    assert "Traceback" not in err
    stopped = json.loads(out.strip().splitlines()[-1])
    assert stopped["stopped"] is True
    # The cooperative close on finish paid the seeder exactly what the payer spent.
    assert ledger.service.get_account(payer).balance == 5_000_000 - summary["spent"]
    assert ledger.service.audit().balanced


def test_download_bad_arguments_are_one_line(ledger: LedgerHarness, tmp_path: Path) -> None:
    for args in (
        ["download", str(tmp_path / "missing.torrent"), "--budget", "1"],
        ["download", "magnet:?xt=urn:btih:zz", "--budget", "-1"],
        ["seed", str(tmp_path / "nothing-here")],
        ["download", "magnet:?xt=urn:btih:zz", "--budget", "1", "--spending-rate", "-5"],
    ):
        out = subprocess.run(
            btt(tmp_path / "h", ledger, *args),
            env=env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert out.returncode != 0, args
        assert out.stderr.strip().startswith("error:"), out.stderr
        assert "Traceback" not in out.stderr
