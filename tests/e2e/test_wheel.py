"""The built wheel, installed into a fresh virtualenv, runs the ledger, the bridge and the demo.

The venv is created without system site packages, and every process runs with its working
directory outside the checkout and no PYTHONPATH, so nothing can be imported from the source tree
or the developer's editable install: a file missing from the wheel fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge.devtools import devnode_fund
from core.crypto import SigningKey

ROOT = Path(__file__).resolve().parents[2]
# The first test pays for the shared wheel and venv (their subprocess calls have their own limits).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path  # outside the checkout

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BTT_"))}
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        return {**env, **extra}

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=self.workdir,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """One wheel and one fresh venv per test session, shared by every test here.

    uv builds the wheel in an isolated build environment and installs it with only the
    dependencies the wheel declares, linking them from its cache: seconds instead of the minutes
    pip takes to unpack every dependency again.
    """
    base = tmp_path_factory.mktemp("wheel")
    dist, venv, workdir = base / "dist", base / "venv", base / "work"
    workdir.mkdir()
    # Build from a clean copy: a stale build/ in the checkout would leak old files into the wheel.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    uv = [sys.executable, "-m", "uv", "--quiet"]
    subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(dist), str(source)], check=True, timeout=300
    )
    (wheel,) = dist.glob("btt_channels-*.whl")
    # A venv without system site packages or pip: only the wheel and what it declares.
    subprocess.run([*uv, "venv", "--python", sys.executable, str(venv)], check=True, timeout=60)
    subprocess.run(
        [*uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        timeout=300,
    )
    return Installed(venv, workdir)


def test_imports_come_from_the_venv_not_the_checkout(installed: Installed) -> None:
    out = _check(
        installed.run(
            installed.bin("python"),
            "-c",
            "import json, sys, ledger, bridge, client_sdk, btt.ledger.v1.ledger_pb2 as pb;"
            "from ledger.storage.migrate import ALEMBIC_INI;"
            "print(json.dumps({'modules': [m.__file__ for m in (ledger, bridge, client_sdk, pb)],"
            " 'ini': str(ALEMBIC_INI), 'site': sys.flags.no_site, 'path': sys.path}))",
        )
    )
    found = json.loads(out)
    site = installed.venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = str(site / "site-packages")
    for module_file in [*found["modules"], found["ini"]]:
        assert module_file.startswith(site_packages + "/"), module_file
    assert not any(p.startswith(str(ROOT)) for p in found["path"]), found["path"]
    migrations = Path(site_packages) / "ledger" / "storage" / "migrations"
    assert (migrations / "script.py.mako").is_file()
    assert list((migrations / "versions").glob("0001_*.py"))


def test_ledger_migrates_and_serves_health(installed: Installed) -> None:
    db = f"sqlite:///{installed.workdir / 'ledger.db'}"
    assert "Traceback" not in _check(
        installed.run(installed.bin("btt-ledger"), "migrate", "--db", db)
    )
    port = _free_port()
    server = subprocess.Popen(
        [installed.bin("btt-ledger"), "serve", "--db", db, "--listen", f"127.0.0.1:{port}"],
        cwd=installed.workdir,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    break
                except grpc.RpcError:
                    time.sleep(0.2)
        assert status == health_pb2.HealthCheckResponse.SERVING, server.poll()
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
        assert server.returncode == 0, err[-3000:]
        assert "Traceback" not in err
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.fixture
def devnode(installed: Installed) -> Iterator[str]:
    port = _free_port()
    node = subprocess.Popen(
        [
            installed.bin("btt-bridge"),
            "devnode",
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(installed.workdir / "chain"),
            "--block-interval",
            "0.1",
            "--solid-depth",
            "1",
        ],
        cwd=installed.workdir,
        env=installed.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert node.poll() is None and time.monotonic() < deadline, "devnode did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        node.terminate()
        node.wait(timeout=30)


def test_bridge_commands_run_from_the_wheel(installed: Installed, devnode: str) -> None:
    issuer, hot = SigningKey.generate(), SigningKey.generate()
    key_file = installed.workdir / "issuer.key"
    key_file.write_text(issuer.secret_bytes().hex())
    env = {"BTT_BRIDGE_NODE_URL": devnode, "BTT_BRIDGE_HOT_KEY": hot.secret_bytes().hex()}
    token = _check(
        installed.run(
            installed.bin("btt-bridge"), "issue-token", "--key-file", str(key_file), **env
        )
    ).strip()
    devnode_fund(devnode, hot.address, 10_000_000)
    env["BTT_BRIDGE_TOKEN_ID"] = token
    env["BTT_BRIDGE_DB"] = f"sqlite:///{installed.workdir / 'bridge.db'}"
    status = json.loads(
        _check(installed.run(installed.bin("btt-bridge"), "status", "--json", **env))
    )
    assert status["bridge_address"] == hot.address and status["token_id"] == token
    assert status["trx_balance"] == 10_000_000


@pytest.mark.timeout(240)
def test_demo_runs_from_the_wheel(installed: Installed) -> None:
    proc = installed.run(
        installed.bin("btt"),
        "demo",
        "--json",
        "--size-mib",
        "2",
        "--workdir",
        str(installed.workdir / "demo"),
        timeout=200,
    )
    result = json.loads(_check(proc))
    assert result["ok"] and result["reconcile_ok"] and result["audit_balanced"]
    assert result["withdrawal_txid"]


def test_devnet_and_faucet_run_from_the_wheel(installed: Installed) -> None:
    """`btt devnet` from the wheel: a ledger, TRON devnode and bridge with a funded faucet, which
    a new wallet claims from; then it stops cleanly on SIGTERM."""
    home, user = installed.workdir / "devnet-home", installed.workdir / "devnet-user"
    ledger, node = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    env_file = home / "devnet" / "env"  # written once the devnet is ready
    net = subprocess.Popen(
        [
            installed.bin("btt"),
            "--home",
            str(home),
            "--ledger",
            ledger,
            "devnet",
            "--node-listen",
            node,
            "--block-interval",
            "0.1",
            "--solid-depth",
            "2",
            "--faucet-difficulty",
            "8",
        ],
        cwd=installed.workdir,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert net.poll() is None, net.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the devnet did not get ready"
            time.sleep(0.2)
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in env_file.read_text().split("\n")
            if line
        )
        assert exported["BTT_LEDGER"] == ledger
        env = {**exported, "BTT_HOME": str(user), "BTT_PASSWORD": "wheel"}
        address = json.loads(
            _check(installed.run(installed.bin("btt"), "--json", "wallet", "new", **env))
        )["address"]
        grant = json.loads(_check(installed.run(installed.bin("btt"), "--json", "faucet", **env)))
        assert grant["account"] == address and grant["balance"] == grant["amount"] == 10_000_000
    finally:
        net.send_signal(signal.SIGTERM)
        output = net.communicate(timeout=60)[0]
    assert net.returncode == 0, output[-3000:]
    assert "devnet stopped" in output and "Traceback" not in output
