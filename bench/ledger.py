"""Ledger latency and throughput: transfer, open, submit-state and close at 1 and 16 clients,
on SQLite and PostgreSQL, against a real `btt-ledger serve` process over loopback gRPC.

    python bench/ledger.py [--ops 2000] [--stores sqlite,postgresql]

Requests are signed before the clock starts, so the figures are the ledger's, not the client's.
PostgreSQL runs durably (fsync and synchronous commit on). Prints a table and writes
bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from btt.ledger.v1 import ledger_pb2 as pb  # noqa: E402
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc  # noqa: E402
from core.crypto import SigningKey  # noqa: E402
from core.envelopes import sign  # noqa: E402
from core.signing import derive_channel_id  # noqa: E402
from tests.pg import fresh_database, local_cluster  # noqa: E402

TOKEN = "bench-token"
LEDGER_ID = "bench-ledger"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ledger_process(db_url: str, processes: int = 1) -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "ledger.cli",
        "serve",
        "--db",
        db_url,
        "--listen",
        f"127.0.0.1:{port}",
        "--treasury-token",
        TOKEN,
        "--ledger-id",
        LEDGER_ID,
        "--migrate",
        "--log-level",
        "WARNING",
        "--processes",
        str(processes),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
        yield target
    finally:
        proc.terminate()
        proc.wait(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_phase(
    target: str, calls: list[list[Callable[[pb_grpc.LedgerStub], Awaitable[object]]]]
) -> dict[str, float]:
    """Each inner list is one client's sequence of calls, run back to back."""
    latencies: list[float] = []
    errors = 0

    async def client(seq: list[Callable[[pb_grpc.LedgerStub], Awaitable[object]]]) -> None:
        nonlocal errors
        async with grpc.aio.insecure_channel(target) as ch:
            stub = pb_grpc.LedgerStub(ch)
            for call in seq:
                start = time.perf_counter()
                try:
                    await call(stub)
                except grpc.aio.AioRpcError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client(seq) for seq in calls))
    elapsed = time.perf_counter() - start
    return {
        "ops": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "ops_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def fund(target: str, accounts: list[str], amount: int) -> None:
    with grpc.insecure_channel(target) as ch:
        stub = pb_grpc.TreasuryStub(ch)
        for a in accounts:
            stub.CreditDeposit(
                pb.CreditDepositRequest(
                    txid=os.urandom(32).hex(),
                    contract_index=0,
                    account=a,
                    amount=amount,
                    tron_from=a,
                ),
                metadata=(("authorization", f"Bearer {TOKEN}"),),
            )


def ledger_now(target: str) -> int:
    with grpc.insecure_channel(target) as ch:
        return int(pb_grpc.LedgerStub(ch).GetInfo(pb.GetInfoRequest()).now)


def bench_store(target: str, clients: int, ops: int) -> dict[str, dict[str, float]]:
    per_client = max(1, ops // clients)
    payers = [SigningKey.generate() for _ in range(clients)]
    payees = [SigningKey.generate() for _ in range(clients)]
    fund(target, [p.address for p in payers], 10**12)
    expiry = ledger_now(target) + 7200
    results: dict[str, dict[str, float]] = {}

    def unary(method: str, request: object) -> Callable[[pb_grpc.LedgerStub], Awaitable[object]]:
        return lambda stub: getattr(stub, method)(request, timeout=30)

    transfers = [
        [
            unary(
                "Transfer",
                pb.TransferRequest(
                    transfer=sign(
                        payers[c],
                        LEDGER_ID,
                        pb.TransferPayload(
                            from_account=payers[c].address,
                            to_account=payees[c].address,
                            amount=1,
                            nonce=n + 1,
                        ),
                    )
                ),
            )
            for n in range(per_client)
        ]
        for c in range(clients)
    ]
    results["transfer"] = asyncio.run(run_phase(target, transfers))

    ids = [
        [
            derive_channel_id(LEDGER_ID, payers[c].address, payees[c].address, s)
            for s in range(per_client)
        ]
        for c in range(clients)
    ]
    opens = [
        [
            unary(
                "OpenChannel",
                pb.OpenChannelRequest(
                    commitment=sign(
                        payers[c],
                        LEDGER_ID,
                        pb.OpenChannelPayload(
                            payer=payers[c].address,
                            payee=payees[c].address,
                            deposit=1000,
                            expiry=expiry,
                            salt=s,
                            channel_id=ids[c][s],
                        ),
                    ),
                    refund=sign(
                        payees[c],
                        LEDGER_ID,
                        pb.RefundPayload(channel_id=ids[c][s], expiry=expiry, version=0),
                    ),
                ),
            )
            for s in range(per_client)
        ]
        for c in range(clients)
    ]
    results["open"] = asyncio.run(run_phase(target, opens))

    def state(c: int, s: int) -> pb.Signed:
        return sign(
            payers[c],
            LEDGER_ID,
            pb.ChannelStatePayload(channel_id=ids[c][s], nonce=1, cumulative=400),
        )

    submits = [
        [unary("SubmitState", pb.SubmitStateRequest(state=state(c, s))) for s in range(per_client)]
        for c in range(clients)
    ]
    results["submit_state"] = asyncio.run(run_phase(target, submits))

    closes = [
        [
            unary(
                "CloseChannel",
                pb.CloseChannelRequest(
                    close=sign(
                        payees[c],
                        LEDGER_ID,
                        pb.CloseChannelPayload(channel_id=ids[c][s], nonce=1, cumulative=400),
                    )
                ),
            )
            for s in range(per_client)
        ]
        for c in range(clients)
    ]
    results["close"] = asyncio.run(run_phase(target, closes))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="operations per phase at 16 clients")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--processes", type=int, default=1, help="ledger server processes")
    parser.add_argument(
        "--no-fsync", action="store_true", help="PostgreSQL without fsync (find the bottleneck)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ledger.json")
    args = parser.parse_args()
    report: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": [],
    }
    rows = []
    for store in args.stores.split(","):
        with contextlib.ExitStack() as stack:
            if store == "sqlite":
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                url = f"sqlite:///{tmp}/bench.db"
            else:
                url = fresh_database(stack.enter_context(local_cluster(durable=not args.no_fsync)))
            target = stack.enter_context(ledger_process(url, args.processes))
            for clients, ops in ((1, max(200, args.ops // 8)), (16, args.ops)):
                for op, r in bench_store(target, clients, ops).items():
                    row = {
                        "store": store,
                        "processes": args.processes,
                        "clients": clients,
                        "op": op,
                        **r,
                    }
                    rows.append(row)
                    report["runs"].append(row)  # type: ignore[attr-defined]
                    print(
                        f"{store:10} {clients:>3} clients  {op:13} {r['ops_per_s']:>8} ops/s  "
                        f"p50 {r['p50_ms']:>6} ms  p99 {r['p99_ms']:>7} ms  errors {r['errors']}",
                        flush=True,
                    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
