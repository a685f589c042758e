"""What a person sees: `btt download` lists every peer with its status (paid at a rate, free and
why, banned for bad data), pieces, bytes and units paid; `btt seed` ends with every payer's
rate, pieces served, units earned and exposure, and the bans."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from client_sdk.torrent.session import create_torrent, write_test_file
from tests.ledger_harness import LedgerHarness
from tests.torrent.badseeder import start_bad_seeder
from tests.torrent.conftest import next_ip
from tests.torrent.test_paid_cli import ROOT, btt, env, free_port, wallet

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def wide_env() -> dict[str, str]:
    return {**env(), "COLUMNS": "220"}


def test_download_and_seed_show_each_peer_and_payer(ledger: LedgerHarness, tmp_path: Path) -> None:
    seeder_home, payer_home = tmp_path / "s", tmp_path / "p"
    wallet(seeder_home)
    ledger.fund(wallet(payer_home), 5_000_000)
    data = tmp_path / "share" / "film.bin"
    write_test_file(data, 3 * 1024 * 1024)
    ti = create_torrent(data, piece_size=256 * 1024)
    bad_dir = tmp_path / "bad"
    shutil.copytree(data.parent, bad_dir)
    bad, _ = start_bad_seeder(next_ip(), ti, bad_dir, list(range(ti.num_pieces())))
    ip = next_ip()
    bt_port, payee_port = free_port(ip), free_port(ip)
    seed = subprocess.Popen(
        btt(
            seeder_home,
            ledger,
            "seed",
            str(data),
            "--listen",
            f"{ip}:{bt_port}",
            "--payee-port",
            str(payee_port),
            "--reserve",
            "500u",
            "--choke-interval",
            "1",
        ),
        env=wide_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert seed.stdout is not None
        while "no tracker: download with" not in (line := seed.stdout.readline()):
            assert line, seed.stderr.read() if seed.stderr else ""
        dl = subprocess.run(
            btt(
                payer_home,
                ledger,
                "download",
                str(seeder_home / "torrents" / "film.bin.torrent"),
                "--budget",
                "1",
                "--listen",
                f"{next_ip()}:0",
                "--paid-peer",
                f"{ip}:{bt_port}={ip}:{payee_port}",
                "--peer",
                f"{bad.ip}:{bad.port}",
                "--rate",
                "600u",
                "--out",
                str(tmp_path / "out"),
                "--timeout",
                "60",
            ),
            env=wide_env(),
            capture_output=True,
            text=True,
            timeout=100,
            cwd=ROOT,
        )
        assert dl.returncode == 0, dl.stdout + dl.stderr
    finally:
        seed.send_signal(signal.SIGTERM)
        out, err = seed.communicate(timeout=60)
        bad.close()
    rows = {line.split()[1]: line for line in dl.stdout.splitlines() if line.count("│") >= 6}
    paid_row = rows[f"{ip}:{bt_port}"]
    # The seeder wins the lone bid at its reserve: paid 500 units per verified piece.
    assert "paid 500u/piece" in paid_row, dl.stdout
    assert "banned: bad data" in rows[f"{bad.ip}:{bad.port}"], dl.stdout
    assert "possession accepted" in paid_row
    assert seed.returncode == 0, err
    assert "payers at the end" in out and "stopped; 1 payer(s), earned 0.00" in out, out
    (payer_row,) = [line for line in out.splitlines() if "│ paid " in line]
    cells = [c.strip() for c in payer_row.split("│")]
    assert "500u" in cells and int(cells[5].replace(",", "")) > 0, payer_row  # pieces served
