from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from bridge.devnode import main
from bridge.tron import TronGateway, TxStatus
from tests.bridge.conftest import ALICE, BOB

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def devnode_process(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.devnode",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            "--block-interval",
            "0",
            "--solid-depth",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("devnode listening on "), line
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _admin(url: str, path: str, **body: object) -> dict[str, object]:
    answer = requests.post(f"{url}/devnode/{path}", json=body, timeout=5).json()
    assert "Error" not in answer, answer
    return answer


def test_chain_survives_sigkill(tmp_path: Path) -> None:
    with devnode_process(tmp_path) as (proc, url):
        token = _admin(url, "issue", owner_address=ALICE.address, total_supply=10**9)["token_id"]
        _admin(url, "fund", address=ALICE.address, amount=50_000_000)
        gw = TronGateway(url)
        done = gw.sign(gw.build_token_transfer(ALICE.address, BOB.address, 77, str(token)), ALICE)
        gw.broadcast(done)
        _admin(url, "produce", count=3)
        pooled = gw.sign(gw.build_token_transfer(ALICE.address, BOB.address, 5, str(token)), ALICE)
        gw.broadcast(pooled)  # in the pool only when the process dies
        head = gw.head()
        blocks = [gw._call("wallet/getblockbynum", {"num": n}) for n in range(head.number + 1)]
        status = gw.get_solid_tx_status(done.txid)
        assert status[0] is TxStatus.SUCCESS
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    with devnode_process(tmp_path) as (proc, url):
        gw = TronGateway(url)
        assert gw.head() == head
        assert [
            gw._call("wallet/getblockbynum", {"num": n}) for n in range(head.number + 1)
        ] == blocks
        assert gw.get_solid_tx_status(done.txid) == status
        assert gw.token_balance(BOB.address, str(token)) == 77
        assert gw.broadcast(done).already_known
        assert gw.broadcast(pooled).already_known  # the pool came back too
        _admin(url, "produce", count=3)
        assert gw.get_solid_tx_status(pooled.txid)[0] is TxStatus.SUCCESS
        assert gw.token_balance(BOB.address, str(token)) == 82
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--listen", "nohost", "--data-dir", "/tmp/x"])
    assert exit_info.value.code == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--listen", "127.0.0.1:0", "--data-dir", "/tmp/x", "--solid-depth", "-1"])
    assert "must not be negative" in capsys.readouterr().err
