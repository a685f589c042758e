"""`btt deposit` as a process: TRC-10 BTT from the wallet's own TRON key, through a running bridge
process, to a ledger credit, against the devnode (tronpy speaks to it as to java-tron). Its
refusals are one line that says what to do, and change nothing on chain or on the ledger."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.config import BridgeConfig
from bridge.devnode import ChainConfig, DevNode, running_devnode
from bridge.tron import TronGateway
from client_sdk.ledger_client import LedgerClient
from client_sdk.wallet import Wallet
from tests.bridge.conftest import ALICE, BRIDGE
from tests.bridge.processes import start_bridge
from tests.ledger_harness import TREASURY_TOKEN, LedgerHarness, running_ledger

ROOT = Path(__file__).resolve().parents[2]
BTT = [sys.executable, "-c", "from devnet.cli import main; main()"]
PASSWORD = "deposit"
SOLID_DEPTH = 3


@dataclass
class Setup:
    node: DevNode
    ledger: LedgerHarness
    config: BridgeConfig
    token: str
    wallet: Wallet
    env: dict[str, str]

    def btt(
        self, *args: str, timeout: float = 90, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BTT, *args],
            env={**os.environ, "PYTHONPATH": str(ROOT), **self.env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def on_chain(self, address: str) -> int:
        gw = TronGateway(self.node.url, network="devnode", timeout=5.0)
        try:
            return gw.token_balance(address, self.token, solid=False)
        finally:
            gw.close()

    def ledger_balance(self) -> int:
        with LedgerClient(self.ledger.target) as client:
            return client.balance(self.wallet.address)


@contextmanager
def blocks_flowing(node: DevNode, interval: float = 0.1) -> Iterator[None]:
    """The chain makes a block every `interval` seconds while the block runs."""
    stop = threading.Event()

    def produce() -> None:
        while not stop.wait(interval):
            node.produce_blocks(1)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        yield
    finally:
        stop.set()
        producer.join()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A devnode making blocks when told, with no free bandwidth (every transfer costs TRX, as
    for a busy address on TRON), a ledger, and a wallet; no bridge running yet."""
    chain = tmp_path / "chain"
    no_free = ChainConfig(free_bandwidth=0)
    with running_devnode(chain, block_interval=0, solid_depth=SOLID_DEPTH, config=no_free) as node:
        token = node.issue_token(ALICE.address, "BTT", 10**12)
        node.fund(BRIDGE.address, 100_000_000)  # the bridge's hot address pays its bandwidth
        wallet = Wallet.create(tmp_path / "home" / "wallet.json", PASSWORD, scrypt_n=2**10)
        with running_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
            config = BridgeConfig(
                node_url=node.url,
                ledger=ledger.target,
                treasury_token=TREASURY_TOKEN,
                db=f"sqlite:///{tmp_path / 'bridge.db'}",
                token_id=token,
                hot_key=BRIDGE.secret_bytes().hex(),
                poll_interval=0.05,
                tx_lifetime_ms=60_000,
            )
            env = {
                "BTT_HOME": str(tmp_path / "home"),
                "BTT_PASSWORD": PASSWORD,
                "BTT_LEDGER": ledger.target,
                "BTT_BRIDGE_NODE_URL": node.url,
                "BTT_BRIDGE_BRIDGE_ADDRESS": BRIDGE.address,
                "BTT_BRIDGE_TOKEN_ID": token,
            }
            yield Setup(node, ledger, config, token, wallet, env)


@pytest.fixture
def bridge(setup: Setup, tmp_path: Path) -> Iterator[None]:
    with open(tmp_path / "bridge.log", "w") as log:
        proc = start_bridge(setup.config, output=log)
        try:
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_deposit_shows_its_progress_block_by_block_to_the_credit(
    setup: Setup, bridge: None
) -> None:
    address = setup.wallet.address
    setup.node.fund(address, 10_000_000)  # TRX for bandwidth
    setup.node.fund(address, 8_000_000, setup.token)
    proc = subprocess.Popen(
        [*BTT, "deposit", "5"],
        env={**os.environ, "PYTHONPATH": str(ROOT), **setup.env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        # Without a terminal the progress comes as lines, one per change. The chain moves one
        # block per line read, so every stage shows.
        seen = [proc.stderr.readline()]
        assert seen[-1].endswith("sent; waiting for a block\n"), seen
        block = setup.node.produce_blocks(1)
        for confirmations in range(SOLID_DEPTH):
            seen.append(proc.stderr.readline())
            assert seen[-1].endswith(
                f"in block {block}; waiting for solidification: {confirmations}/3 blocks\n"
            ), seen
            setup.node.produce_blocks(1)
        rest = proc.stderr.read().splitlines()
        out = proc.stdout.read() if proc.stdout is not None else ""
        assert proc.wait(timeout=60) == 0, seen + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rest[-1].endswith("credited"), rest
    assert all(line.endswith("waiting for the bridge to credit") for line in rest[:-1]), rest
    assert re.fullmatch(
        rf"deposited 5 BTT in block {block} \(tx [0-9a-f]{{64}}\); balance 5 BTT\n", out
    ), out
    assert setup.ledger_balance() == 5_000_000
    assert setup.on_chain(address) == 3_000_000 and setup.on_chain(BRIDGE.address) == 5_000_000


def test_json_deposit_prints_one_object_and_no_progress(setup: Setup, bridge: None) -> None:
    setup.node.fund(setup.wallet.address, 10_000_000)
    setup.node.fund(setup.wallet.address, 2_000_000, setup.token)
    with blocks_flowing(setup.node):
        done = setup.btt("--json", "deposit", "1500000u")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["amount"] == 1_500_000 and result["balance"] == 1_500_000
    assert result["block"] > 0 and len(result["txid"]) == 64
    assert done.stderr == ""
    assert setup.ledger_balance() == 1_500_000


def test_refusals_say_what_to_do_and_send_nothing(setup: Setup) -> None:
    address = setup.wallet.address
    no_tokens = setup.btt("deposit", "1")
    assert no_tokens.returncode == 1 and "Traceback" not in no_tokens.stderr
    assert no_tokens.stderr.strip() == (
        f"error: {address} holds 0 units of token {setup.token} on chain, below 1000000 "
        f"(on a devnet: btt-bridge fund {address} 100 --token-id {setup.token})"
    )
    setup.node.fund(address, 2_000_000, setup.token)
    too_much = setup.btt("deposit", "3")
    assert too_much.returncode == 1
    assert f"{address} holds 2000000 units of token {setup.token} on chain, below 3000000" in (
        too_much.stderr
    )
    no_bandwidth = setup.btt("deposit", "1")
    assert no_bandwidth.returncode == 1
    assert no_bandwidth.stderr.strip() == (
        f"error: {address} has no TRX to pay the transfer's bandwidth: send it some TRX first "
        f"(on a devnet: btt-bridge fund {address} 10 --trx)"
    )
    unset = setup.btt("deposit", "1", BTT_BRIDGE_BRIDGE_ADDRESS="")
    assert unset.returncode == 1 and "the bridge's address is not set" in unset.stderr
    setup.node.produce_blocks(SOLID_DEPTH + 1)
    assert setup.on_chain(address) == 2_000_000 and setup.on_chain(BRIDGE.address) == 0
    assert setup.ledger_balance() == 0


def test_without_a_bridge_it_says_what_it_waits_for_and_the_credit_comes_later(
    setup: Setup, tmp_path: Path
) -> None:
    address = setup.wallet.address
    setup.node.fund(address, 10_000_000)
    setup.node.fund(address, 4_000_000, setup.token)
    with blocks_flowing(setup.node):
        waited = setup.btt("deposit", "4", "--timeout", "5")
    assert waited.returncode == 1
    lines = waited.stderr.splitlines()
    assert lines[-2].endswith("solidified; waiting for the bridge to credit"), waited.stderr
    assert re.fullmatch(r"error: deposit [0-9a-f]{64} not credited within 5 s", lines[-1])
    assert setup.on_chain(BRIDGE.address) == 4_000_000 and setup.ledger_balance() == 0
    with open(tmp_path / "bridge.log", "w") as log:
        proc = start_bridge(setup.config, output=log)
        try:
            deadline = time.monotonic() + 60
            while setup.ledger_balance() != 4_000_000:
                assert time.monotonic() < deadline, "the deposit was not credited"
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
