"""`btt-ledger` settings (flags > BTT_LEDGER_* > TOML) and its one-line errors, as processes."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from ledger.settings import ConfigError, load_settings, settings_reference
from tests.ledger_proc import ROOT, clean_env, free_port, one_line_error, run_ledger, serving

pytestmark = pytest.mark.timeout(300)  # many short processes; a loaded machine starts them slowly
DOC = ROOT / "docs" / "configuration.md"


def test_every_setting_is_documented_in_one_table() -> None:
    text = DOC.read_text()
    table = text.split("settings_reference(), checked by")[1].split("-->\n", 1)[1]
    assert table.split("<!-- end of settings table -->")[0] == settings_reference()


def _doc_sample(tmp_path: Path) -> Path:
    sample = re.search(r"<!-- sample ledger.toml -->\n```toml\n(.*?)```", DOC.read_text(), re.S)
    assert sample is not None
    path = tmp_path / "doc-ledger.toml"
    path.write_text(sample.group(1))
    return path


def test_the_sample_files_load_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("BTT_LEDGER_")]:
        monkeypatch.delenv(key)
    deploy = ROOT / "deploy" / "ledger.toml"
    loaded = [load_settings(config_file=p) for p in (_doc_sample(tmp_path), deploy)]
    doc, shipped = (s.model_dump() for s in loaded)
    assert doc == shipped  # the page shows the file that ships
    s = loaded[1]
    assert s.treasury_listen == "0.0.0.0:50052" and s.processes == 2
    assert s.treasury_client_ca == Path("/etc/btt/bridge-ca.pem")
    assert s.treasury_token is None  # the secret is in its own file, never in the TOML
    assert s.treasury_token_file == Path("/etc/btt/treasury.token")
    # A flag beats the environment, which beats the file.
    monkeypatch.setenv("BTT_LEDGER_LISTEN", "127.0.0.1:7000")
    monkeypatch.setenv("BTT_LEDGER_ID", "from-env")
    s = load_settings(config_file=deploy, listen="127.0.0.1:7001")
    assert (s.listen, s.ledger_id, s.db_workers) == ("127.0.0.1:7001", "from-env", 8)


def test_file_env_and_flag_reach_the_running_server(tmp_path: Path) -> None:
    file_port, flag_port = free_port(), free_port()
    token = tmp_path / "treasury.token"
    token.write_text("file-token\n")
    token.chmod(0o600)
    config = tmp_path / "ledger.toml"
    config.write_text(
        f'db = "sqlite:///{tmp_path / "l.db"}"\nlisten = "127.0.0.1:{file_port}"\n'
        f'ledger_id = "from-file"\ntreasury_token_file = "{token}"\nlog_level = "WARNING"\n'
    )
    env = clean_env(BTT_LEDGER_ID="from-env")
    args = ("--config", str(config), "--listen", f"127.0.0.1:{flag_port}")
    with serving(*args, log=tmp_path / "log", env=env) as ledger:
        assert f"127.0.0.1:{flag_port}" in ledger.text()
        assert "file-token" not in " ".join(ledger.proc.args)  # type: ignore[arg-type]
        with grpc.insecure_channel(f"127.0.0.1:{flag_port}") as ch:
            assert pb_grpc.LedgerStub(ch).GetInfo(pb.GetInfoRequest()).ledger_id == "from-env"
            reply = pb_grpc.TreasuryStub(ch).ListWithdrawals(
                pb.ListWithdrawalsRequest(), metadata=(("authorization", "Bearer file-token"),)
            )
            assert list(reply.withdrawals) == []
    assert ledger.proc.returncode == 0, ledger.text()


def test_the_treasury_token_is_never_a_flag(tmp_path: Path) -> None:
    refused = run_ledger("serve", "--treasury-token", "secret", "--db", "sqlite://")
    assert refused.returncode == 2 and "--treasury-token" in refused.stderr
    with pytest.raises(ConfigError, match="unknown setting 'treasury_tokn'"):
        bad = tmp_path / "typo.toml"
        bad.write_text('treasury_tokn = "x"\n')
        load_settings(config_file=bad)


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('listen = "127.0.0.1:1\n')
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("procesess = 2\n")
    cases = [
        (("--listen", "127.0.0.1:99999"), "expected HOST:PORT with a port of 0..65535"),
        (("--listen", "nowhere"), "expected HOST:PORT"),
        (("--metrics", "127.0.0.1:0"), "port of 1..65535"),
        (("--config", str(bad_toml)), f"config file {bad_toml} is not valid TOML"),
        (("--config", str(unknown)), f"unknown setting 'procesess' in config file {unknown}"),
        (("--config", str(tmp_path / "none.toml")), "config file not found"),
        (("--tls-cert", str(tmp_path / "c.pem")), "--tls-cert and --tls-key go together"),
        (("--treasury-client-ca", str(tmp_path / "ca.pem")), "needs --treasury-listen"),
        (("--processes", "2", "--listen", "127.0.0.1:0"), "--processes needs a fixed port"),
        (("--treasury-token-file", str(tmp_path / "none")), "file not found"),
    ]
    for args, needle in cases:
        line = one_line_error(run_ledger("serve", "--db", db, *args))
        assert needle in line, (args, line)
    assert not (tmp_path / "l.db").exists()  # refused before opening anything


def test_metrics_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_ledger(
            "serve",
            *("--db", f"sqlite:///{tmp_path / 'l.db'}", "--listen", "127.0.0.1:0"),
            *("--metrics", f"127.0.0.1:{port}"),
        )
    line = one_line_error(result)
    assert line == f"error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"


def test_grpc_port_taken_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'l.db'}"
    with serving("--db", db, "--listen", f"127.0.0.1:{port}", log=tmp_path / "first.log"):
        second = run_ledger("serve", "--db", db, "--listen", f"127.0.0.1:{port}")
    assert one_line_error(second) == (
        f"error: cannot listen: Failed to bind to address 127.0.0.1:{port} (in use, or not an "
        "address of this host)"
    )


ADMIN = (
    ("audit",),
    ("account", "T" + "1" * 33),
    ("channels",),
    ("channel", "00" * 32),
    ("sweep",),
    ("events",),
)


def test_admin_never_creates_a_database(tmp_path: Path) -> None:
    typo = tmp_path / "ledgr.db"
    for command in (*ADMIN, ("backup", str(tmp_path / "out.db"))):
        line = one_line_error(run_ledger("admin", *command, "--db", f"sqlite:///{typo}"))
        assert line == f"error: no ledger database at {typo} (btt-ledger migrate --db ... " + (
            "creates one)"
        )
        assert not typo.exists(), command
    assert not (tmp_path / "out.db").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    line = one_line_error(run_ledger("admin", "audit", "--db", f"sqlite:///{empty}"))
    assert "is not a ledger database" in line and empty.stat().st_size == 0
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all " * 100)
    assert "not a SQLite database" in one_line_error(
        run_ledger("admin", "audit", "--db", f"sqlite:///{junk}")
    )
    # Made on purpose, the database then serves every admin command.
    db = f"sqlite:///{tmp_path / 'new' / 'real.db'}"
    assert run_ledger("migrate", "--db", db).returncode == 0
    assert (tmp_path / "new" / "real.db").stat().st_mode & 0o777 == 0o600  # money data
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    for command in ADMIN:
        done = run_ledger("admin", *command, "--db", db)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert done.returncode == 0 or done.stderr.startswith("error: "), (command, done.stderr)
    assert "balanced" in run_ledger("admin", "audit", "--db", db).stdout


def test_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://btt:s3cret@127.0.0.1:{port}/btt"
    for args in (
        ("serve", "--db", url, "--listen", "127.0.0.1:0"),
        ("admin", "audit", "--db", url),
        ("migrate", "--db", url),
    ):
        line = one_line_error(run_ledger(*args))
        assert f"127.0.0.1:{port}" in line and "Connection refused" in line, line
        assert "s3cret" not in line  # the password is not echoed


def test_admin_on_postgresql_needs_a_migrated_database(pg_url: str) -> None:
    refused = one_line_error(run_ledger("admin", "audit", "--db", pg_url))
    assert "is not a ledger database (no alembic_version table" in refused
    assert run_ledger("migrate", "--db", pg_url).returncode == 0
    audit = run_ledger("admin", "audit", "--db", pg_url, "--json")
    assert audit.returncode == 0 and '"balanced": true' in audit.stdout, audit.stderr


def test_settings_shows_each_value_and_its_source(tmp_path: Path) -> None:
    config = tmp_path / "ledger.toml"
    config.write_text('listen = "127.0.0.1:5000"\ndb_workers = 4\n')
    env = clean_env(BTT_LEDGER_TREASURY_TOKEN="hush", BTT_LEDGER_DB_WORKERS="3")
    shown = run_ledger("settings", "--config", str(config), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = {r["setting"]: (r["value"], r["source"]) for r in json.loads(shown.stdout)}
    assert rows["listen"] == ("127.0.0.1:5000", "file")
    assert rows["db_workers"] == (3, "env BTT_LEDGER_DB_WORKERS")  # env over file
    assert rows["treasury_token"] == ("(set)", "env BTT_LEDGER_TREASURY_TOKEN")
    assert rows["challenge_window"] == (3600, "default")
    assert "hush" not in shown.stdout


def test_version() -> None:
    shown = run_ledger("--version")
    assert shown.returncode == 0 and re.fullmatch(
        r"btt-ledger \S+ \(Python 3\.\d+\.\d+\)\n", shown.stdout
    ), shown
