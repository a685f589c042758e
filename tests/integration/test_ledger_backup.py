"""`btt-ledger admin backup`: an online SQLite backup taken while the server writes, which then
passes `admin audit` on its own."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from tests.ledger_proc import clean_env, free_port, one_line_error, run_ledger, serving

pytestmark = pytest.mark.timeout(180)
TOKEN = "backup-test-token"


class Depositor(threading.Thread):
    """Credits deposits through the Treasury, one after another, until stopped."""

    def __init__(self, target: str) -> None:
        super().__init__(daemon=True)
        self.target, self.stop, self.credited = target, threading.Event(), 0
        self.account = SigningKey.generate().address

    def run(self) -> None:
        with grpc.insecure_channel(self.target) as ch:
            stub = pb_grpc.TreasuryStub(ch)
            while not self.stop.is_set():
                stub.CreditDeposit(
                    pb.CreditDepositRequest(
                        txid=os.urandom(32).hex(),
                        account=self.account,
                        amount=1_000_000,
                        tron_from=self.account,
                    ),
                    metadata=(("authorization", f"Bearer {TOKEN}"),),
                    timeout=20,
                )
                self.credited += 1


def _audit(db: str) -> dict[str, object]:
    result = run_ledger("admin", "audit", "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_online_backup_while_the_server_writes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'live.db'}"
    target = f"127.0.0.1:{free_port()}"
    env = clean_env(BTT_LEDGER_TREASURY_TOKEN=TOKEN)
    backups = [tmp_path / "b1.db", tmp_path / "b2.db"]
    with serving("--db", db, "--listen", target, log=tmp_path / "log", env=env):
        writer = Depositor(target)
        writer.start()
        try:
            for out in backups:
                before = writer.credited
                while writer.credited < before + 20:  # writes keep landing around each backup
                    writer.join(0.05)
                    assert writer.is_alive()
                done = run_ledger("admin", "backup", "--db", db, str(out))
                assert done.returncode == 0, done.stderr
                assert done.stdout.startswith("backed up ")
            during = writer.credited
            while writer.credited < during + 20:  # the server went on writing after them
                writer.join(0.05)
        finally:
            writer.stop.set()
            writer.join(30)
        total = writer.credited
    copies = [_audit(f"sqlite:///{b}") for b in backups]
    live = _audit(db)
    assert (tmp_path / "live.db").stat().st_mode & 0o777 == 0o600  # created so by serve
    assert live["balanced"] and live["deposits_credited"] == total * 1_000_000
    for copy in copies:
        assert copy["balanced"] is True
    credited = [int(str(c["deposits_credited"])) for c in copies]
    assert 0 < credited[0] < credited[1] < total * 1_000_000, (credited, total)
    assert all(b.stat().st_mode & 0o777 == 0o600 for b in backups)  # money data
    assert not list(tmp_path.glob("*.partial"))


def test_backup_refusals(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    assert run_ledger("migrate", "--db", db).returncode == 0
    exists = tmp_path / "exists.db"
    exists.write_text("keep me")
    assert "exists: a backup never overwrites" in one_line_error(
        run_ledger("admin", "backup", "--db", db, str(exists))
    )
    assert exists.read_text() == "keep me"
    assert "no directory" in one_line_error(
        run_ledger("admin", "backup", "--db", db, str(tmp_path / "no" / "b.db"))
    )
    pg = one_line_error(run_ledger("admin", "backup", "--db", "postgresql://x@127.0.0.1:1/x", "o"))
    assert "base backup with WAL archiving" in pg and "docs/operations.md" in pg
