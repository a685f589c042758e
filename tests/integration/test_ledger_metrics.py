"""Metrics for operators, scraped from a `btt-ledger serve` process: build and process metrics,
the books, the event-stream tip and subscribers; and every metric the sample Grafana dashboard
queries exists in that scrape."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from core.envelopes import sign
from tests.ledger_process import ROOT, ledger_process

pytestmark = pytest.mark.timeout(90)
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
OUR_METRICS = re.compile(r"\b((?:btt|process|python)_[a-zA-Z0-9_]+)")


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)]."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    [(_, v)] = samples[name]
    return v


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in board["panels"] for t in p["targets"]]
    queries += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return queries


def test_operators_metrics_and_the_dashboard(tmp_path: Path) -> None:
    key = SigningKey.generate()
    with ledger_process(tmp_path) as ledger, grpc.insecure_channel(ledger.target) as channel:
        stub = pb_grpc.LedgerStub(channel)
        pb_grpc.TreasuryStub(channel).CreditDeposit(
            pb.CreditDepositRequest(
                txid=os.urandom(32).hex(),
                account=key.address,
                amount=5_000_000,
                tron_from=key.address,
            ),
            metadata=(("authorization", "Bearer t"),),
            timeout=10,
        )
        info = stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        payload = pb.WithdrawalPayload(
            account=key.address, tron_address=key.address, amount=2_000_000, nonce=1
        )
        stub.RequestWithdrawal(
            pb.RequestWithdrawalRequest(withdrawal=sign(key, info.ledger_id, payload)),
            timeout=10,
        )
        with pytest.raises(grpc.RpcError):  # a rejection, so that its counter has a sample
            stub.GetChannel(pb.GetChannelRequest(channel_id=b"\x07" * 32), timeout=10)
        last = stub.GetInfo(pb.GetInfoRequest(), timeout=10).last_event_id
        stream = stub.Subscribe(pb.SubscribeRequest(account=key.address), timeout=30)
        assert next(stream).accounts == [key.address]
        deadline = time.monotonic() + 10
        samples = scrape(ledger.metrics_url)
        while value(samples, "btt_ledger_event_stream_tip") < last:
            assert time.monotonic() < deadline
            time.sleep(0.1)
            samples = scrape(ledger.metrics_url)
        stream.cancel()  # type: ignore[attr-defined]

    [(build, one)] = samples["btt_build_info"]
    assert one == 1 and build["version"] and re.fullmatch(r"3\.\d+\.\d+", build["python"])
    assert build["program"] == "btt-ledger"
    assert value(samples, "process_resident_memory_bytes") > 10_000_000
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "btt_ledger_account_balances") == 3_000_000
    assert value(samples, "btt_ledger_pending_withdrawals") == 2_000_000
    assert value(samples, "btt_ledger_deposits_credited") == 5_000_000
    assert value(samples, "btt_ledger_liabilities") == 5_000_000
    assert value(samples, "btt_ledger_channel_escrow") == 0
    assert value(samples, "btt_ledger_audit_balanced") == 1
    assert value(samples, "btt_ledger_books_up") == 1
    assert value(samples, "btt_ledger_event_stream_tip") == last
    assert value(samples, "btt_ledger_subscribers") == 1

    queried = {name for query in dashboard_queries() for name in OUR_METRICS.findall(query)}
    assert {"btt_ledger_audit_balanced", "btt_rpc_calls_total", "process_cpu_seconds_total"} <= (
        queried
    )
    missing = sorted(name for name in queried if name not in samples)
    assert not missing, f"the dashboard queries metrics a ledger does not export: {missing}"
