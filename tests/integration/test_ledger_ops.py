"""Operating the ledger: the CLI as a process, metrics, deadlines (TLS: tests/sdk)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from ledger.embedded import serving_in_thread
from ledger.rpc.server import build_service
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]
# Waiting for a server process that is still starting: retry the connection often, not with
# gRPC's growing backoff (which can outlast the wait on a busy machine).
QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 250),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_serve_as_a_process_then_stop_cleanly(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    db = f"sqlite:///{tmp_path / 'l.db'}"
    env = {**os.environ, "BTT_LEDGER_DB": db, "BTT_LEDGER_TREASURY_TOKEN": "t"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledger.cli",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--metrics",
            f"127.0.0.1:{metrics_port}",
            "--ledger-id",
            "proc-ledger",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=QUICK_RECONNECT) as ch:
            grpc.channel_ready_future(ch).result(timeout=20)
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = pb_grpc.LedgerStub(ch)
            assert stub.GetInfo(pb.GetInfoRequest()).ledger_id == "proc-ledger"
            with pytest.raises(grpc.RpcError):
                stub.GetChannel(pb.GetChannelRequest(channel_id=b"\x07" * 32))
        import urllib.request

        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
        assert 'btt_rpc_calls_total{code="OK",method="GetInfo"} 1.0' in text
        assert 'btt_rpc_rejections_total{method="GetChannel",reason="UNKNOWN_CHANNEL"} 1.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    audit = run_cli("admin", "audit", "--db", db, "--json")
    assert audit.returncode == 0 and '"balanced": true' in audit.stdout


def test_cli_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    assert run_cli("migrate", "--db", db).returncode == 0  # admin never creates a database
    for args, needle in (
        (["admin", "channel", "zz", "--db", db], "channel id must be hex"),
        (["admin", "account", "nope", "--db", db], "INVALID_ADDRESS"),
        (["admin", "channels", "--status", "weird", "--db", db], "status must be"),
        (["serve", "--db", db, "--tls-cert", "/nonexistent"], "go together"),
    ):
        result = run_cli(*args)
        assert result.returncode != 0, args
        assert needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_deadline_overrun_changes_nothing_and_server_keeps_serving(
    ledger: LedgerHarness,
) -> None:
    from core.envelopes import sign

    key = SigningKey.generate()
    ledger.fund(key.address, 100)
    with grpc.insecure_channel(ledger.target) as ch:
        stub = pb_grpc.LedgerStub(ch)
        t = pb.TransferPayload(
            from_account=key.address, to_account=SigningKey.generate().address, amount=1, nonce=1
        )
        signed = sign(key, ledger.ledger_id, t)
        with pytest.raises(grpc.RpcError) as exc:
            stub.Transfer(pb.TransferRequest(transfer=signed), timeout=0.000001)
        assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # Either it committed before the deadline hit or it did not: never half.
        balance = stub.GetAccount(pb.GetAccountRequest(account=key.address)).balance
        assert balance in (99, 100)
        assert stub.Audit(pb.AuditRequest()).balanced


def test_embedded_server_for_apps(tmp_path: Path) -> None:
    service = build_service(f"sqlite:///{tmp_path / 'e.db'}", migrate=True)
    with serving_in_thread(service) as running, grpc.insecure_channel(running.target) as ch:
        assert pb_grpc.LedgerStub(ch).GetInfo(pb.GetInfoRequest()).ledger_id
    service.store.dispose()


def test_several_processes_share_one_port_and_one_database(tmp_path: Path) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'multi.db'}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledger.cli",
            "serve",
            "--db",
            db,
            "--listen",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--ledger-id",
            "multi",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Both workers say so once they listen (connecting earlier would only meet gRPC's
        # reconnect backoff on a busy machine).
        assert proc.stderr is not None
        said = [proc.stderr.readline() for _ in range(2)]
        assert all("listening on" in line for line in said), said
        ids = set()
        for _ in range(8):  # fresh connections land on either process
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=QUICK_RECONNECT) as ch:
                grpc.channel_ready_future(ch).result(timeout=20)
                ids.add(pb_grpc.LedgerStub(ch).GetInfo(pb.GetInfoRequest()).ledger_id)
        assert ids == {"multi"}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
