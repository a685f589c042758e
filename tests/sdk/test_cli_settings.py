"""`btt` as a real process against a real ledger on 127.0.0.1: option placement, the config
file, --version, help texts, and the reads that need no password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.ledger_client import LedgerClient
from client_sdk.wallet import Wallet
from tests.ledger_harness import LedgerHarness

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery staple"


def run_btt(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `btt` entry point (devnet.cli), as a user runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTT_")}
    done = subprocess.run(
        [sys.executable, "-c", "from devnet.cli import main; main()", *args],
        env={**clean, **(env or {})},
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def one_error(done: subprocess.CompletedProcess[str], start: str) -> None:
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.startswith(f"error: {start}"), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def address(home: Path) -> str:
    return Wallet.create(home / "wallet.json", PASSWORD, scrypt_n=2**4).address


def test_options_after_the_subcommand_and_no_password_for_a_read(
    ledger: LedgerHarness, home: Path, address: str
) -> None:
    ledger.fund(address, 2_500_000)
    # No BTT_PASSWORD and nothing on stdin: balance reads the address from the keystore.
    done = run_btt("balance", "--json", "--ledger", ledger.target, "--home", str(home))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"account": address, "balance": 2_500_000, "nonce": 0}
    mixed = run_btt("--home", str(home), "balance", f"--ledger={ledger.target}", "--json")
    assert json.loads(mixed.stdout)["balance"] == 2_500_000
    # A command's own option of the same name stays its own: `events --limit` is not global.
    done = run_btt(
        "events", "--limit", "1", "--json", "--ledger", ledger.target, "--home", str(home)
    )
    assert done.returncode == 0 and json.loads(done.stdout)["kind"] == "credit"


def test_config_file_under_env_under_flags(
    ledger: LedgerHarness, home: Path, address: str, tmp_path: Path
) -> None:
    ledger.fund(address, 1_000_000)
    config = tmp_path / "btt.toml"
    config.write_text(f'ledger = "{ledger.target}"\nhome = "{home}"\njson = true\n')
    done = run_btt("--config", str(config), "balance")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["balance"] == 1_000_000
    done = run_btt("balance", env={"BTT_CONFIG_FILE": str(config)})  # the file named by env
    assert json.loads(done.stdout)["account"] == address
    # The environment wins over the file, a flag over the environment.
    one_error(
        run_btt(
            "balance",
            "--timeout",
            "0.5",
            env={"BTT_CONFIG_FILE": str(config), "BTT_LEDGER": "127.0.0.1:1"},
        ),
        "ledger unavailable",
    )
    done = run_btt(
        "balance",
        "--ledger",
        ledger.target,
        env={"BTT_CONFIG_FILE": str(config), "BTT_LEDGER": "127.0.0.1:1"},
    )
    assert done.returncode == 0 and json.loads(done.stdout)["balance"] == 1_000_000
    # Per-command sections.
    config.write_text(f'ledger = "{ledger.target}"\nhome = "{home}"\n[events]\nlimit = 1\n')
    done = run_btt("--config", str(config), "--json", "events")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('ledgr = "x"\n', "config file {path}: unknown setting 'ledgr' at the top level"),
        ('password = "x"\n', "config file {path}: unknown setting 'password'"),
        ("[events]\nlimt = 1\n", "config file {path}: unknown setting 'limt' in [events]"),
        ("ledger = \n", "config file {path} is not valid TOML"),
    ],
)
def test_bad_config_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "btt.toml"
    path.write_text(text)
    one_error(run_btt("--config", str(path), "balance"), message.format(path=path))


def test_version_and_help_texts_intact(tmp_path: Path) -> None:
    one_error(run_btt("--config", str(tmp_path / "none.toml"), "balance"), "config file not found")
    done = run_btt("--version")
    assert done.returncode == 0 and done.stdout.startswith("btt ") and "Python" in done.stdout
    done = run_btt("channel", "open", "--help")
    assert done.returncode == 0 and "[the payee's suggestion]" in done.stdout
    done = run_btt("--help")
    assert "Keystore file [HOME/wallet.json]" in done.stdout and "--config" in done.stdout


def test_info_and_withdrawals_read_without_the_password(
    ledger: LedgerHarness, home: Path, address: str
) -> None:
    ledger.fund(address, 5_000_000)
    key = Wallet.load(home / "wallet.json", PASSWORD).signing_key
    with LedgerClient(ledger.target, key) as client:
        first = client.request_withdrawal(address, 1_000_000)
        client.request_withdrawal(address, 2_000_000)
    with grpc.insecure_channel(ledger.target) as channel:
        pb_grpc.TreasuryStub(channel).MarkWithdrawalPaid(
            pb.MarkWithdrawalPaidRequest(withdrawal_id=first.withdrawal_id, txid="ab" * 32),
            metadata=ledger.treasury_metadata(),
            timeout=10,
        )
    where = ("--ledger", ledger.target, "--home", str(home))
    done = run_btt("withdrawals", "--json", *where)  # no password anywhere, none asked
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)["withdrawals"]
    assert [(w["amount"], w["status"], w["txid"]) for w in listed] == [
        (1_000_000, "paid", "ab" * 32),
        (2_000_000, "pending", ""),
    ]
    done = run_btt("withdrawals", "--status", "paid", *where)  # the human table
    assert done.returncode == 0 and "ab" * 8 in done.stdout and "pending" not in done.stdout
    info = json.loads(run_btt("info", "--json", *where).stdout)
    assert info["ledger_id"] == ledger.ledger_id and info["address"] == address
    assert info["balance"] == 2_000_000 and info["last_event_id"] >= 3
    done = run_btt("info", *where)
    assert f"id {ledger.ledger_id}" in done.stdout and "2 BTT" in done.stdout


def test_password_file_for_signing_and_money_files_private(
    ledger: LedgerHarness, home: Path, address: str, tmp_path: Path
) -> None:
    ledger.fund(address, 3_000_000)
    where = ("--ledger", ledger.target, "--home", str(home))
    bob = Wallet.create(tmp_path / "bob.json", PASSWORD, scrypt_n=2**4).address
    # No password anywhere and nothing to type: a signing command says so in one line.
    one_error(run_btt("transfer", bob, "1", *where), "no wallet password")
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    done = run_btt("transfer", bob, "1", "--json", "--password-file", str(secret), *where)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["balance"] == 2_000_000
    done = run_btt("transfer", bob, "1", *where, env={"BTT_PASSWORD_FILE": str(secret)})
    assert done.returncode == 0 and "balance 1 BTT" in done.stdout
    one_error(
        run_btt("transfer", bob, "1", "--password-file", str(tmp_path / "none"), *where),
        "cannot read the password file",
    )
    one_error(
        run_btt("balance", "--ca-cert", str(tmp_path / "none.pem"), *where),
        "cannot read the CA certificate",
    )
    # A channel store made by btt is the owner's only (the keystore already was).
    done = run_btt("channel", "refund", "00" * 32, *where, env={"BTT_PASSWORD": PASSWORD})
    assert done.stderr.startswith("error: no local record")
    for name in ("wallet.json", "channels.db"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name


def test_seed_and_download_fail_in_one_line(home: Path, address: str, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(50_000))
    not_torrent = tmp_path / "notes.torrent"
    not_torrent.write_text("not a torrent\n")
    env = {"BTT_HOME": str(home), "BTT_LEDGER": "127.0.0.1:1", "BTT_TIMEOUT": "1"}
    # The ledger is down: the seeder says so before asking for the password.
    one_error(run_btt("seed", str(data), env=env), "cannot reach the ledger at 127.0.0.1:1")
    one_error(
        run_btt("download", str(not_torrent), "--budget", "1", env=env),
        f"{not_torrent} is not a .torrent file",
    )
    # --no-bid needs no budget; a missing budget otherwise is a usage error.
    one_error(run_btt("download", str(data), "--no-bid", env=env), f"{data} is not a .torrent")
    done = run_btt("download", str(data), env=env)
    assert done.returncode == 2 and done.stderr.startswith("error: Invalid value for '--budget'")


def test_tls_ledger_hint_and_ca_cert_after_the_subcommand(tmp_path: Path) -> None:
    from tests.certs import TestCA
    from tests.tracker.test_seed_download_ops import tls_ledger

    ca = TestCA(tmp_path / "pki")
    home = tmp_path / "home"
    with tls_ledger(tmp_path, ca.issue("ledger", "127.0.0.1")) as target:
        where = ("--ledger", target, "--home", str(home), "--timeout", "3")
        plain = run_btt("info", *where)
        one_error(plain, "ledger unavailable")
        assert plain.stderr.rstrip().endswith("give its CA certificate with --ca-cert")
        done = run_btt("info", "--json", "--ca-cert", str(ca.pem), *where)
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
        assert info["ledger_id"] == "tls-ledger" and info["address"] is None
