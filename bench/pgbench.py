"""The database's own limit: pgbench running a transfer-like transaction on the same server.

One transaction = two balance updates (in key order, as the ledger locks them) and one journal
insert into a table indexed like the ledger's journal (primary key, source, target), committed
durably. The ledger does at least this much work per transfer, so pgbench's rate at the same
client count is the ceiling the ledger's figures are measured against.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ACCOUNTS = 100_000

SETUP = f"""
DROP TABLE IF EXISTS bench_accounts, bench_journal;
CREATE TABLE bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO bench_accounts SELECT i, 1000000000 FROM generate_series(1, {ACCOUNTS}) AS i;
CREATE TABLE bench_journal (
    entry_id bigserial PRIMARY KEY,
    at bigint NOT NULL,
    source integer NOT NULL,
    target integer NOT NULL,
    amount bigint NOT NULL
);
CREATE INDEX ON bench_journal (source);
CREATE INDEX ON bench_journal (target);
VACUUM ANALYZE bench_accounts;
"""

SCRIPT = f"""\\set a random(1, {ACCOUNTS})
\\set b random(1, {ACCOUNTS})
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
UPDATE bench_accounts SET balance = balance - 1 WHERE id = :lo;
UPDATE bench_accounts SET balance = balance + 1 WHERE id = :hi;
INSERT INTO bench_journal (at, source, target, amount) VALUES (1, :lo, :hi, 1);
END;
"""


@dataclass(frozen=True, slots=True)
class PgbenchRun:
    clients: int
    seconds: float
    transactions: int
    tps: float
    p50_ms: float
    p99_ms: float

    def row(self) -> dict[str, object]:
        return {
            "store": "postgresql",
            "clients": self.clients,
            "op": "pgbench_transfer",
            "ops": self.transactions,
            "errors": 0,
            "seconds": self.seconds,
            "ops_per_s": round(self.tps, 1),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


def available() -> bool:
    return shutil.which("pgbench") is not None


def _libpq(url: str) -> dict[str, str]:
    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": str(u.port or 5432),
        "user": u.username or "postgres",
        "dbname": u.database or "postgres",
    }


def prepare(db_url: str) -> None:
    p = _libpq(db_url)
    with psycopg.connect(autocommit=True, **p) as conn:  # type: ignore[arg-type]
        for statement in SETUP.split(";"):
            if statement.strip():
                conn.execute(statement)


def run(db_url: str, clients: int, seconds: float) -> PgbenchRun:
    """pgbench with prepared statements, `clients` connections on 2 threads, for `seconds`."""
    p = _libpq(db_url)
    with tempfile.TemporaryDirectory(prefix="btt-pgbench-") as tmp:
        script = Path(tmp) / "transfer.sql"
        script.write_text(SCRIPT)
        cmd = [
            "pgbench",
            "-h",
            p["host"],
            "-p",
            p["port"],
            "-U",
            p["user"],
            "-n",  # no vacuum of pgbench's own tables (there are none)
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(max(1, round(seconds))),
            "-f",
            str(script),
            "-l",
            f"--log-prefix={tmp}/tx",
            p["dbname"],
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=tmp)
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr.strip() or out.stdout.strip()}")
        tps = re.search(r"tps = ([0-9.]+)", out.stdout)
        count = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
        if tps is None or count is None:
            raise RuntimeError(f"cannot read pgbench output: {out.stdout}")
        # Per-transaction log: client, transaction no, latency (us), script, epoch s, epoch us.
        latencies = [
            int(line.split()[2]) / 1000
            for log in Path(tmp).glob("tx.*")
            for line in log.read_text().splitlines()
            if line.strip()
        ]
    ordered = sorted(latencies) or [0.0]
    return PgbenchRun(
        clients=clients,
        seconds=float(max(1, round(seconds))),
        transactions=int(count.group(1)),
        tps=float(tps.group(1)),
        p50_ms=round(statistics.median(ordered), 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
    )
