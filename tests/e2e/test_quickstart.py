"""The README's quick start, as a new user types it: `btt devnet`, then a funded account from the
faucet, a transfer, a channel payment (a paid download), a deposit from the wallet and a
withdrawal; then the devnet stops on SIGTERM and a restart continues. Every step is a process."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tronpy import Tron
from tronpy.providers import HTTPProvider

from client_sdk.torrent.session import sha256_file, write_test_file

ROOT = Path(__file__).resolve().parents[2]
BTT = [sys.executable, "-c", "from devnet.cli import main; main()"]
BRIDGE = [sys.executable, "-c", "from bridge.cli import main; main()"]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Devnet:
    """`btt devnet` as a background process; its stdout lines are read on a thread."""

    def __init__(self, home: Path, ledger: str, node: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [
                *BTT,
                "--home",
                str(home),
                "--ledger",
                ledger,
                "devnet",
                "--node-listen",
                node,
                "--block-interval",
                "0.2",
                "--solid-depth",
                "3",
                "--faucet-difficulty",
                "10",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.output: list[str] = []

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in:\n{''.join(self.output)}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        time.sleep(0.2)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code


def test_quick_start(tmp_path: Path) -> None:
    ledger, node = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    devnet_home = tmp_path / "devnet-home"
    net = Devnet(devnet_home, ledger, node)
    try:
        net.wait_for("devnet ready")
        env_file = devnet_home / "devnet" / "env"
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in env_file.read_text().split("\n")
            if line
        )
        assert exported["BTT_LEDGER"] == ledger
        base = {**os.environ, **exported, "BTT_PASSWORD": "correct horse"}

        def run(cmd: list[str], who: str, *args: str, timeout: float = 120) -> str:
            env = {**base, "BTT_HOME": str(tmp_path / who)}
            done = subprocess.run(
                [*cmd, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
            )
            assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
            assert "Traceback" not in done.stderr
            return done.stdout

        def btt(who: str, *args: str, timeout: float = 120) -> dict:  # type: ignore[type-arg]
            return json.loads(run(BTT, who, "--json", *args, timeout=timeout))  # type: ignore[no-any-return]

        alice = btt("alice", "wallet", "new")["address"]
        bob = btt("bob", "wallet", "new")["address"]
        # A funded account from the faucet; a second claim is refused.
        assert btt("alice", "faucet")["balance"] == 10_000_000
        again = subprocess.run(
            [*BTT, "faucet"],
            env={**base, "BTT_HOME": str(tmp_path / "alice")},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 1 and "FAUCET_ALREADY_CLAIMED" in again.stderr
        # A transfer.
        assert btt("alice", "transfer", bob, "1")["balance"] == 9_000_000
        assert btt("bob", "balance")["balance"] == 1_000_000

        # A channel payment: bob seeds a file, alice's download pays him per piece.
        content = tmp_path / "share" / "film.bin"
        digest = write_test_file(content, 2 * 1024 * 1024)
        seed = subprocess.Popen(
            [
                *BTT,
                "--json",
                "seed",
                str(content),
                "--listen",
                f"127.0.0.61:{free_port('127.0.0.61')}",
                "--payee-port",
                str(free_port("127.0.0.61")),
                "--reserve",
                "100u",
                "--choke-interval",
                "1",
            ],
            env={**base, "BTT_HOME": str(tmp_path / "bob")},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert seed.stdout is not None
            paid_peer = json.loads(seed.stdout.readline())["paid_peer"]
            torrent = tmp_path / "bob" / "torrents" / "film.bin.torrent"
            got = btt(
                "alice",
                "download",
                str(torrent),
                "--budget",
                "1",
                "--listen",
                "127.0.0.62:0",
                "--paid-peer",
                paid_peer,
                "--rate",
                "500u",
                "--out",
                str(tmp_path / "downloads"),
            )
        finally:
            seed.send_signal(signal.SIGTERM)  # the seeder closes its channels on the way out
            seed.wait(timeout=60)
        assert got["complete"] and got["spent"] > 0
        assert sha256_file(tmp_path / "downloads" / "film.bin") == digest
        assert btt("bob", "balance")["balance"] == 1_000_000 + got["spent"]

        # A deposit from the wallet's own TRON key (TRX for bandwidth and tokens from the devnode).
        run(BRIDGE, "alice", "fund", alice, "10", "--trx")
        run(BRIDGE, "alice", "fund", alice, "5")
        before = btt("alice", "balance")["balance"]
        deposited = btt("alice", "deposit", "5")
        assert deposited["balance"] == before + 5_000_000 and deposited["block"] > 0

        # A withdrawal, paid on chain by the bridge.
        assert btt("alice", "withdraw", alice, "3")["status"] == "pending"
        tron = Tron(HTTPProvider(exported["BTT_BRIDGE_NODE_URL"]))
        token_id = int(exported["BTT_BRIDGE_TOKEN_ID"])
        deadline = time.monotonic() + 60
        while tron.get_account_asset_balance(alice, token_id) != 3_000_000:
            assert time.monotonic() < deadline, "withdrawal not paid on chain"
            time.sleep(0.3)
        status = json.loads(run(BRIDGE, "alice", "status", "--json"))
        assert status["warnings"] == []
    finally:
        code = net.stop()
    assert code == 0, "".join(net.output)
    assert any("devnet stopped" in line for line in net.output)

    # A restart continues: same token, same balances, the pool is not funded twice.
    again_net = Devnet(devnet_home, ledger, node)
    try:
        again_net.wait_for("devnet ready")
        text = "".join(again_net.output)
        assert "issued TRC-10 token" not in text and "faucet pool" in text and "holds" in text
        env = {**base, "BTT_HOME": str(tmp_path / "alice")}
        balance = subprocess.run(
            [*BTT, "--json", "balance"], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert json.loads(balance.stdout)["balance"] == before + 5_000_000 - 3_000_000
    finally:
        assert again_net.stop() == 0
