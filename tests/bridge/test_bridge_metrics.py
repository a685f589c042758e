"""`btt-bridge run --metrics`, scraped and parsed by prometheus_client's own text parser."""

from __future__ import annotations

import re
import signal
import socket
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import BridgeConfig
from bridge.devnode import DevNode
from bridge.devtools import deposit
from bridge.tron import TronGateway
from client_sdk.ledger_client import LedgerClient
from tests.bridge.conftest import ALICE, BRIDGE, CAROL, DAVE
from tests.bridge.processes import start_bridge
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url, timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_running_bridge_exports_and_shows_what_an_operator_watches(
    node: DevNode, bridge_env: tuple[LedgerHarness, BridgeConfig]
) -> None:
    """Metrics for Prometheus, and in its output (a log here: not a terminal) a progress line
    whenever a figure changes and a summary when it stops."""
    ledger, config = bridge_env
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    gateway = TronGateway(node.url)
    deposit(gateway, ALICE, BRIDGE.address, config.token_id, 9_000, CAROL.address)
    proc = start_bridge(config, "run", "--metrics", f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 40
        with LedgerClient(ledger.target, CAROL) as carol:
            while carol.balance() < 9_000:
                assert time.monotonic() < deadline and proc.poll() is None
                node.produce_blocks(1)
                time.sleep(0.05)
            carol.request_withdrawal(DAVE.address, 4_000)
        while gateway.token_balance(DAVE.address, config.token_id) < 4_000:
            assert time.monotonic() < deadline and proc.poll() is None
            node.produce_blocks(1)
            time.sleep(0.05)
        node.produce_blocks(3)
        metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        # The scan catches up once blocks stop coming: wait for that too, not for a lucky scrape.
        while (
            metrics.get(("btt_bridge_payouts", (("state", "paid"),))) != 1
            or metrics.get(("btt_bridge_scan_lag_blocks", ()), 99) > 3
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
            metrics = scrape(url)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0]
        gateway.close()
    assert proc.returncode == 0, output
    assert metrics[("btt_bridge_build_info", (("version", "0.1.0"),))] == 1
    assert metrics[("process_resident_memory_bytes", ())] > 0
    assert metrics[("process_cpu_seconds_total", ())] > 0
    assert any(name == "python_info" for name, _ in metrics)
    assert metrics[("btt_bridge_deposits_credited_total", ())] == 1
    assert metrics[("btt_bridge_deposited_units_total", ())] == 9_000
    assert metrics[("btt_bridge_payouts", (("state", "open"),))] == 0
    assert metrics[("btt_bridge_payouts", (("state", "failed"),))] == 0
    assert metrics[("btt_bridge_payout_actions_total", (("action", "paid"),))] == 1
    assert metrics[("btt_bridge_payout_actions_total", (("action", "broadcast"),))] >= 1
    assert 0 <= metrics[("btt_bridge_scan_lag_blocks", ())] <= 3
    assert metrics[("btt_bridge_hot_token_units", ())] == 5_000
    assert 0 < metrics[("btt_bridge_hot_trx_sun", ())] < 100_000_000  # the payout's fee paid

    lines = output.splitlines()
    progress = [line.removeprefix("progress: ") for line in lines if line.startswith("progress: ")]
    figures = [line.split(" | ", 1)[1] for line in progress]
    assert len(figures) == len(set(figures))  # printed on a change, not every pass
    credited = "deposits: 1 seen, 1 to accounts (9000 units), 0 in suspense | "
    assert all(
        f.startswith((credited, "deposits: 0 seen, 0 to accounts (0 units)")) for f in figures
    )
    in_flight = re.compile(r"1 in flight \(0 held\), [1-9]\d* sent, 0 confirmed, 0 failed$")
    assert any(f.startswith(credited) and in_flight.search(f) for f in figures)
    done = re.compile(r"0 in flight \(0 held\), [1-9]\d* sent, 1 confirmed, 0 failed$")
    assert figures[-1].startswith(credited) and done.search(figures[-1])
    summary = lines[-1]
    assert re.match(r"stopped after \d+\.\d s, \d+ passes \(0 failed\): block \d+ \| ", summary)
    assert summary.split(" | ", 1)[1] == figures[-1]
