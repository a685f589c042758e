"""`btt seed` and `btt download` as an operator runs them: against a TLS ledger process and over
a TLS payee service (real certificates made here), and one `error: ...` line, quickly, for each
mistake: the ledger unreachable or plaintext against TLS, a file that is not a torrent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_client import LedgerClient
from client_sdk.torrent.paid.market_rpc import fetch_reserve
from client_sdk.torrent.session import sha256_file, write_test_file
from tests.certs import ServerCert, TestCA
from tests.tracker.conftest import ROOT, btt_command, free_port, next_ip, shared_file

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TOKEN = "treasury-token-for-tls-test"


def env() -> dict[str, str]:
    return {**os.environ, "BTT_PASSWORD": "correct horse"}


@contextmanager
def tls_ledger(tmp: Path, cert: ServerCert) -> Iterator[str]:
    """`btt-ledger serve` over TLS on a fresh port; yields its target once it listens."""
    port = free_port("127.0.0.1")
    log = tmp / "ledger.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledger.cli",
                "serve",
                "--db",
                f"sqlite:///{tmp / 'ledger.db'}",
                "--listen",
                f"127.0.0.1:{port}",
                "--tls-cert",
                str(cert.cert),
                "--tls-key",
                str(cert.key),
                "--ledger-id",
                "tls-ledger",
            ],
            cwd=ROOT,
            env={**os.environ, "BTT_LEDGER_TREASURY_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the ledger did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fund(target: str, ca: Path, account: str, amount: int) -> None:
    """Credit a deposit as the bridge would, over TLS with the treasury token."""
    creds = grpc.ssl_channel_credentials(ca.read_bytes())
    with grpc.secure_channel(target, creds) as channel:
        pb_grpc.TreasuryStub(channel).CreditDeposit(
            pb.CreditDepositRequest(
                txid=os.urandom(32).hex(),
                contract_index=0,
                account=account,
                amount=amount,
                tron_from=account,
            ),
            metadata=(("authorization", f"Bearer {TOKEN}"),),
            timeout=20,
        )


def btt(home: Path, ledger: str, *args: str) -> list[str]:
    return btt_command("--ledger", ledger, "--home", str(home), *args)


def run(cmd: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """A `btt` process; the bound fails a command that hangs (a download waits 600 s)."""
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def wallet(home: Path) -> str:
    out = run(btt(home, "127.0.0.1:1", "--json", "wallet", "new"))
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["address"])


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_seed_and_download_with_a_tls_ledger_and_a_tls_payee_service(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    seeder_ip = next_ip()
    film = tmp_path / "share" / "film.bin"
    write_test_file(film, 1024 * 1024 + 21, seed=9)
    seeder_home, payer_home = tmp_path / "seeder", tmp_path / "payer"
    wallet(seeder_home)
    payer = wallet(payer_home)
    with tls_ledger(tmp_path, ca.issue("ledger", "127.0.0.1")) as target:
        fund(target, ca.pem, payer, 5_000_000)
        # Plaintext against the TLS ledger: one line that says what to do.
        plain = one_error_line(
            run(btt(seeder_home, target, "seed", str(film), "--listen", f"{seeder_ip}:0"))
        )
        assert plain.startswith(f"error: cannot reach the ledger at {target}: ")
        assert plain.endswith("if it serves TLS, give its CA certificate with --ca-cert")

        payee = ca.issue("payee", seeder_ip)
        seeder = subprocess.Popen(
            btt(
                seeder_home,
                target,
                "--ca-cert",
                str(ca.pem),
                "--json",
                "seed",
                str(film),
                "--listen",
                f"{seeder_ip}:0",
                "--payee-cert",
                str(payee.cert),
                "--payee-key",
                str(payee.key),
                "--reserve",
                "100u",
                "--legacy-peers",
                "block",  # every piece must be paid for over the TLS payee service
                "--choke-interval",
                "1",
            ),
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert seeder.stdout is not None
            line = seeder.stdout.readline()
            assert line, seeder.stderr.read() if seeder.stderr else ""
            ready = json.loads(line)
            # The payee service speaks TLS only, with the certificate the CA issued.
            tls = grpc.ssl_channel_credentials(ca.pem.read_bytes())
            reserve = asyncio.run(fetch_reserve(ready["payee"], ready["info_hash"], 20, tls))
            assert reserve is not None and reserve.reserve_price == 100
            with pytest.raises(grpc.RpcError) as plaintext:
                asyncio.run(fetch_reserve(ready["payee"], ready["info_hash"], 5))
            assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
            got = run(
                btt(
                    payer_home,
                    target,
                    "--ca-cert",
                    str(ca.pem),
                    "--json",
                    "download",
                    str(ready["torrent"]),
                    "--paid-peer",
                    str(ready["paid_peer"]),
                    "--payee-ca-cert",
                    str(ca.pem),
                    "--budget",
                    "1",
                    "--listen",
                    f"{next_ip()}:0",
                    "--out",
                    str(tmp_path / "out"),
                    "--timeout",
                    "60",
                ),
                timeout=120,
            )
        finally:
            seeder.send_signal(signal.SIGTERM)
            out, err = seeder.communicate(timeout=60)
        assert seeder.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["stopped"] is True
        assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
        summary = json.loads(got.stdout.strip().splitlines()[-1])
        assert summary["complete"] is True
        assert summary["spent"] == 100 * summary["pieces"] > 0
        assert sha256_file(tmp_path / "out" / "film.bin") == sha256_file(film)
        with LedgerClient(target, ca_cert=ca.pem) as client:
            assert client.balance(payer) == 5_000_000 - summary["spent"]
        # A person sees in words what the JSON line said.
        seed_args = ["--listen", f"{seeder_ip}:0", "--reserve", "100u", "--seconds", "0.5"]
        human = run(
            btt(seeder_home, target, "--ca-cert", str(ca.pem), "seed", str(film), *seed_args)
        )
        assert human.returncode == 0, human.stderr
        for key in ("info_hash", "torrent", "magnet"):
            assert str(ready[key]) in human.stdout, (key, human.stdout)


def test_seed_and_download_mistakes_are_one_line_each(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wallet(home)
    down = f"127.0.0.1:{free_port('127.0.0.1')}"  # nobody listens there
    shared = shared_file(tmp_path, 256 * 1024, [])
    # The ledger unreachable: `btt seed` stops before it starts anything.
    seed = one_error_line(
        run(btt(home, down, "seed", str(shared.data_dir), "--listen", f"{next_ip()}:0"))
    )
    assert seed.startswith(f"error: cannot reach the ledger at {down}: ")
    assert "Connection refused" in seed and "--ca-cert" not in seed
    # ... and `btt download` too, instead of waiting out its 600 s timeout in silence.
    dl = one_error_line(run(btt(home, down, "download", str(shared.torrent), "--budget", "1")))
    assert dl.startswith(f"error: cannot reach the ledger at {down}: ")
    # Files that are not torrents, small and large (libtorrent: "metadata too large").
    notes = tmp_path / "notes.torrent"
    notes.write_text("just some notes\n")
    big = tmp_path / "disk.iso"
    with big.open("wb") as f:
        f.truncate(12 * 1024 * 1024)
    for path in (notes, big):
        err = one_error_line(run(btt(home, down, "download", str(path), "--budget", "1")))
        assert err.startswith(f"error: {path} is not a .torrent file (")
    # A port out of range is refused, not replaced by another.
    port = run(btt(home, down, "seed", str(shared.data_dir), "--payee-port", "99999"))
    assert port.returncode != 0 and "--payee-port" in port.stderr
    assert "Traceback" not in port.stderr
