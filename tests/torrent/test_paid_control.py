"""`btt control` changes the budget of a running `btt download`: its bid, below the seeder's
reserve (not sent, the peer free), clears it at once, and the download is paid and completes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from client_sdk.torrent.access import LegacyPeers
from client_sdk.torrent.session import create_torrent, sha256_file, write_test_file
from tests.ledger_harness import LedgerHarness
from tests.torrent.conftest import next_ip
from tests.torrent.test_paid_cli import ROOT, btt, env, wallet
from tests.torrent.test_paid_flow import paid_seeder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

RESERVE = 200_000  # units per piece
PIECES = 12


def test_control_raises_the_budget_of_a_running_download(
    ledger: LedgerHarness, tmp_path: Path
) -> None:
    home = tmp_path / "p"
    payer = wallet(home)
    ledger.fund(payer, 10_000_000)
    data = tmp_path / "share" / "f.bin"
    digest = write_test_file(data, PIECES * 256 * 1024)
    ti = create_torrent(data, piece_size=256 * 1024, out=tmp_path / "f.torrent")
    seeder = paid_seeder(ledger, next_ip(), tmp_path / "payee.db", legacy_peers=LegacyPeers.BLOCK)
    ih = seeder.add(ti, data.parent, reserve=RESERVE)
    seeder.start()
    ctl = ["--socket", str(home / "ctl" / "dl.sock")]
    try:
        none = subprocess.run(
            btt(home, ledger, "control", *ctl), env=env(), capture_output=True, text=True, cwd=ROOT
        )
        assert none.returncode == 1 and none.stderr.startswith("error: no running download")
        # 1 BTT over 12 pieces bids 83,333 units per piece: below the reserve, never sent.
        dl = subprocess.Popen(
            btt(
                home,
                ledger,
                "--json",
                "download",
                str(tmp_path / "f.torrent"),
                "--budget",
                "1",
                "--listen",
                f"{next_ip()}:0",
                "--paid-peer",
                f"{seeder.bt_endpoint}={seeder.payee_target}",
                "--out",
                str(tmp_path / "out"),
                "--timeout",
                "90",
                "--control",
                ctl[1],
            ),
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            state: dict[str, object] = {}
            while time.monotonic() < deadline:  # until it listens and has bid
                out = subprocess.run(  # no --socket: the one download of this home is found
                    btt(home, ledger, "--json", "control"),
                    env=env(),
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                if out.returncode == 0:
                    state = json.loads(out.stdout)
                    if state["bids"] == {ih: 1_000_000 // PIECES}:
                        break
                time.sleep(0.3)
            assert state.get("bids") == {ih: 1_000_000 // PIECES}, state
            assert seeder.stats()["peers"] == []  # no bid reached the seeder
            refused = subprocess.run(
                btt(home, ledger, "control", "--spending-rate", "-1", *ctl),
                env=env(),
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            assert refused.returncode != 0 and "Traceback" not in refused.stderr
            raised = subprocess.run(
                btt(home, ledger, "--json", "control", "--budget", "4", *ctl),
                env=env(),
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            assert raised.returncode == 0, raised.stderr
            answer = json.loads(raised.stdout)
            assert answer["budget"] == 4_000_000
            assert answer["bids"] == {ih: 4_000_000 // PIECES}  # at once: no wait for a minute
            out_text, err_text = dl.communicate(timeout=100)
        finally:
            if dl.poll() is None:
                dl.kill()
                dl.communicate()
        assert dl.returncode == 0, err_text
        summary = json.loads(out_text)
    finally:
        seeder.stop()
    assert summary["complete"] and sha256_file(tmp_path / "out" / "f.bin") == digest
    assert summary["budget"] == 4_000_000
    assert [b["reason"] for b in summary["bids"]] == ["FIRST", "USER_CHANGE"]
    (peer,) = summary["peers"]
    assert peer["paid"] and peer["rate"] == RESERVE and peer["free"] == ""
    assert summary["spent"] == RESERVE * PIECES
    assert not (home / "ctl" / "dl.sock").exists()  # removed on exit
