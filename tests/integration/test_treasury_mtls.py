"""The Treasury on its own port, requiring client certificates (mTLS), while user clients reach
the Ledger service with TLS and no certificate: a real `btt-ledger serve`, real certificates,
the bridge's Treasury client and the `btt-bridge` program."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_client import LedgerClient, LedgerError
from client_sdk.treasury_client import TreasuryClient
from core.crypto import SigningKey
from tests.certs import TestCA
from tests.ledger_proc import ROOT, clean_env, free_port, serving

pytestmark = pytest.mark.timeout(180)
TOKEN = "mtls-treasury-token"


def _bridge(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in clean_env().items() if not k.startswith("BTT_BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_treasury_requires_the_bridge_certificate(tmp_path: Path) -> None:
    server_ca = TestCA(tmp_path / "server-ca", "ledger CA")
    server = server_ca.issue("ledger", "127.0.0.1")
    bridge_ca = TestCA(tmp_path / "bridge-ca", "bridge client CA")
    bridge = bridge_ca.issue("bridge", client=True)
    intruder = TestCA(tmp_path / "other-ca", "someone else").issue("intruder", client=True)
    token = tmp_path / "treasury.token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    port, treasury_port = free_port(), free_port()
    user, treasury = f"127.0.0.1:{port}", f"127.0.0.1:{treasury_port}"
    args = (
        *("--db", f"sqlite:///{tmp_path / 'l.db'}", "--listen", user, "--ledger-id", "mtls"),
        *("--tls-cert", str(server.cert), "--tls-key", str(server.key)),
        *("--treasury-listen", treasury, "--treasury-client-ca", str(bridge_ca.pem)),
        *("--treasury-token-file", str(token)),
        *("--processes", "2"),  # as deploy/ledger.toml: both ports shared by the workers
    )
    with serving(*args, log=tmp_path / "ledger.log") as ledger:
        assert ledger.wait_for(f"(Treasury on {treasury})", 2)
        # A user needs the CA only, no certificate of its own.
        with LedgerClient(user, ca_cert=server_ca.pem) as client:
            assert client.ledger_id() == "mtls"
        # The user port serves no Treasury at all.
        with grpc.secure_channel(
            user, grpc.ssl_channel_credentials(server_ca.pem.read_bytes())
        ) as ch:
            with pytest.raises(grpc.RpcError) as exc:
                pb_grpc.TreasuryStub(ch).ListWithdrawals(
                    pb.ListWithdrawalsRequest(),
                    metadata=(("authorization", f"Bearer {TOKEN}"),),
                    timeout=10,
                )
            assert exc.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # The bridge's Treasury client with its certificate: served.
        account = SigningKey.generate().address
        with TreasuryClient(
            treasury, TOKEN, ca_cert=server_ca.pem, client_cert=(bridge.cert, bridge.key)
        ) as bridge_client:
            bridge_client.credit_deposit("ab" * 32, 0, account, 5_000_000, account)
            assert bridge_client.audit().balanced
        # Without a certificate, or with one another CA signed: the handshake fails.
        for pair in (None, (intruder.cert, intruder.key)):
            with (
                TreasuryClient(
                    treasury, TOKEN, ca_cert=server_ca.pem, client_cert=pair, timeout=3, attempts=1
                ) as refused,
                pytest.raises(LedgerError),
            ):
                refused.audit()
        with LedgerClient(user, ca_cert=server_ca.pem) as client:
            assert client.balance(account) == 5_000_000  # exactly the one credit

        # The bridge program, configured as the docs say.
        common = (
            *("--ledger", user, "--ledger-treasury", treasury),
            *("--ledger-ca-cert", str(server_ca.pem), "--treasury-token-file", str(token)),
        )
        with_cert = _bridge(
            *common,
            *("--ledger-client-cert", str(bridge.cert), "--ledger-client-key", str(bridge.key)),
            *("withdrawals", "--json"),
        )
        assert with_cert.returncode == 0, with_cert.stderr
        assert json.loads(with_cert.stdout) == []
        without = _bridge(*common, "withdrawals")
        assert without.returncode == 2 and "Traceback" not in without.stderr, without.stderr
        intruding = _bridge(
            *common,
            *("--ledger-client-cert", str(intruder.cert), "--ledger-client-key", str(intruder.key)),
            "withdrawals",
        )
        assert intruding.stderr.startswith(
            f"error: the ledger at {treasury}: it refuses the client certificate {intruder.cert}"
        ), intruding.stderr
        assert without.stderr == (
            f"error: the ledger at {treasury}: it asks for a client certificate: give "
            "--ledger-client-cert and --ledger-client-key\n"
        )
    assert ledger.proc.returncode == 0, ledger.text()


def test_the_readme_shows_this_setup() -> None:
    """The README's production block names every flag the test above runs with."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- production setup:")[1].split("```bash\n")[1].split("```")[0]
    for flag in (
        "--tls-cert",
        "--tls-key",
        "--treasury-listen",
        "--treasury-client-ca",
        "--treasury-token-file",
        "--ledger-treasury",
        "--ledger-ca-cert",
        "--ledger-client-cert",
        "--ledger-client-key",
        "--ca-cert",
    ):
        assert f"{flag} " in block, flag
    assert "--treasury-token " not in readme  # never a secret on the command line
