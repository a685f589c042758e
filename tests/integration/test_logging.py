"""One logging setup: a `btt-ledger serve` process writes JSON lines, every line of a request
(from the event loop and from the database threads, unary and streaming calls alike) carries
that request's id, and streaming calls are counted in the RPC metrics."""

from __future__ import annotations

import io
import json
import logging
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core import logs
from core.crypto import SigningKey
from tests.ledger_process import ledger_process

pytestmark = pytest.mark.timeout(90)


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def test_every_line_of_a_request_carries_its_id(tmp_path: Path) -> None:
    account = SigningKey.generate().address
    with ledger_process(tmp_path, "--log-level", "DEBUG") as ledger:
        with grpc.insecure_channel(ledger.target) as channel:
            stub = pb_grpc.LedgerStub(channel)
            treasury = pb_grpc.TreasuryStub(channel)
            treasury.CreditDeposit(
                pb.CreditDepositRequest(
                    txid=os.urandom(32).hex(), account=account, amount=5, tron_from=account
                ),
                metadata=(("authorization", "Bearer t"),),
                timeout=10,
            )
            stub.GetAccount(pb.GetAccountRequest(account=account), timeout=10)
            garbage = channel.unary_unary("/btt.ledger.v1.Ledger/GetAccount")
            with pytest.raises(grpc.RpcError):
                garbage(b"\xff\xff\xff", timeout=10)
            stream = stub.Subscribe(pb.SubscribeRequest(account=account), timeout=30)
            assert next(stream).accounts == [account]
            open_streams = scrape(ledger.metrics_url)
            stream.cancel()  # type: ignore[attr-defined]
            time.sleep(0.5)
        metrics = scrape(ledger.metrics_url)
    lines = json_lines(ledger.log_text())
    assert lines and all({"ts", "time", "level", "logger", "msg"} <= set(line) for line in lines)

    ends = [line for line in lines if line["msg"] == "rpc"]
    assert [e["method"] for e in ends] == [
        "CreditDeposit",
        "GetAccount",
        "GetAccount",
        "Subscribe",
    ]
    ids = [e["request_id"] for e in ends]
    assert len(set(ids)) == len(ids)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(line.get("request_id", "-"), []).append(line)
    # Every line written while a request was served is one of its lines, with its id.
    for end in ends:
        mine = by_id[end["request_id"]]
        first = lines.index(mine[0])
        last = lines.index(end)
        during = [line for line in lines[first : last + 1] if "request_id" not in line]
        # Only the process's own background work (none here at DEBUG with the sweeper idle)
        # may write without an id while a request is served.
        assert all(not line["logger"].startswith(("btt.rpc", "ledger.rpc")) for line in during)
        assert mine[0]["msg"] == "rpc started" and mine[0]["method"] == end["method"]
    messages = [[line["msg"] for line in by_id[end["request_id"]]] for end in ends]
    # Database work runs on other threads; its lines still carry the request's id.
    assert messages[1] == ["rpc started", "database call", "rpc"]
    assert "database call" in messages[3]
    bad = by_id[ends[2]["request_id"]]
    assert [line["msg"] for line in bad] == ["rpc started", "unparseable request refused", "rpc"]
    assert ends[2]["code"] == "INVALID_ARGUMENT" and ends[3]["code"] == "CANCELLED"

    # The streaming call is measured: open while it ran, counted when it ended.
    assert 'btt_rpc_in_flight{method="Subscribe"} 1.0' in open_streams
    assert 'btt_rpc_calls_total{code="CANCELLED",method="Subscribe"} 1.0' in metrics
    assert 'btt_rpc_stream_messages_total{direction="sent",method="Subscribe"} 1.0' in metrics
    assert 'btt_rpc_latency_seconds_count{method="Subscribe"} 1.0' in metrics
    assert 'btt_rpc_in_flight{method="Subscribe"} 0.0' in metrics


def test_structlog_and_logging_lines_share_one_format() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("INFO", json_lines=True, stream=out)
        token = logs.request_id.set("abc123")
        logging.getLogger("plain").info("from logging", extra={"n": 1})
        logs.get_logger("structured").info("from structlog", n=2)
        logging.getLogger("plain").debug("below the level")
        logs.request_id.reset(token)
        logging.getLogger("plain").warning("outside a request")
        first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
        assert (first["msg"], first["n"], first["level"]) == ("from logging", 1, "info")
        assert (second["msg"], second["n"], second["logger"]) == ("from structlog", 2, "structured")
        assert first["request_id"] == second["request_id"] == "abc123"
        assert "request_id" not in third and third["level"] == "warning"

        console = io.StringIO()
        logs.configure("INFO", json_lines=False, stream=console)
        logging.getLogger("plain").info("for people", extra={"port": 5})
        assert "for people" in console.getvalue() and "port=5" in console.getvalue()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
