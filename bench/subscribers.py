"""Subscribe under hostile clients, and how fast a committed event reaches a subscriber.

    python bench/subscribers.py [--streams 500] [--transfers 300] [--stores sqlite,postgresql]

1. Victim latency: one client's signed transfers (p50, p99) against a real `btt-ledger serve`
   process, alone and beside `--streams` hostile Subscribe streams held open by another process:
   streams of every event that are never read (from one client address, and spread over 8
   addresses), and streams filtered on idle accounts (spread over 8 addresses, so that the
   per-client cap does not refuse them). Goal: the victim's p50 within 2x of its p50 alone.
   Also shown: how many hostile streams were admitted, and the ledger's CPU and memory.
2. Commit-to-subscriber latency: the time from a transfer's reply to its event reaching a
   subscriber on the same process and on another ledger process of the same database.

PostgreSQL runs durably (fsync and synchronous commit on). Prints a table and writes
bench/results/subscribers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.cpu import process_seconds  # noqa: E402
from bench.ledger_proc import fund, ledger_process, percentile  # noqa: E402
from btt.ledger.v1 import ledger_pb2 as pb  # noqa: E402
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc  # noqa: E402
from core.crypto import SigningKey  # noqa: E402
from core.envelopes import sign  # noqa: E402
from tests.pg import fresh_database, local_cluster  # noqa: E402
from tests.tcprelay import relays  # noqa: E402

LEDGER_ID = "bench-subscribers"
GOAL_RATIO = 2.0
HOSTILE_ADDRESSES = [f"127.0.0.{10 + i}" for i in range(8)]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Victim:
    """One client of its own: signed transfers, one at a time; nonces continue across runs."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.key = SigningKey.generate()
        self.to = SigningKey.generate().address
        self.nonce = 0
        fund(target, [self.key.address], 10**12)

    def requests(self, n: int) -> list[pb.TransferRequest]:
        out = []
        for _ in range(n):
            self.nonce += 1
            payload = pb.TransferPayload(
                from_account=self.key.address, to_account=self.to, amount=1, nonce=self.nonce
            )
            out.append(pb.TransferRequest(transfer=sign(self.key, LEDGER_ID, payload)))
        return out

    def latencies(self, n: int) -> list[float]:
        requests = self.requests(n)  # signed before the clock starts
        with grpc.insecure_channel(self.target) as ch:
            stub = pb_grpc.LedgerStub(ch)
            stub.GetInfo(pb.GetInfoRequest(), timeout=30)
            out = []
            for request in requests:
                start = time.perf_counter()
                stub.Transfer(request, timeout=30)
                out.append((time.perf_counter() - start) * 1000)
        return out


# ---------------------------------------------------------------- the hostile process


async def hold_streams(target: str, streams: int, mode: str, spread: bool) -> None:
    """Open `streams` Subscribe streams and never read them; print how many were admitted."""
    with contextlib.ExitStack() as stack:
        targets = stack.enter_context(relays(target, HOSTILE_ADDRESSES)) if spread else [target]
        channels = [grpc.aio.insecure_channel(t) for t in targets for _ in range(4)]
        calls = []
        for i in range(streams):
            account = SigningKey.generate().address if mode == "idle-filtered" else ""
            stub = pb_grpc.LedgerStub(channels[i % len(channels)])
            calls.append(stub.Subscribe(pb.SubscribeRequest(account=account, only_new=True)))
        await asyncio.sleep(3)
        refused = sum(1 for call in calls if call.done())
        print(json.dumps({"admitted": streams - refused, "refused": refused}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
        for channel in channels:
            await channel.close()


@contextlib.contextmanager
def hostile(target: str, streams: int, mode: str, spread: bool) -> Iterator[dict[str, int]]:
    cmd = [sys.executable, __file__, "--hold", target, "--streams", str(streams), "--mode", mode]
    if spread:
        cmd.append("--spread")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        counts = json.loads(proc.stdout.readline())
        yield counts
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


# ---------------------------------------------------------------- measurements


def victim_runs(store: str, db_url: str, streams: int, transfers: int) -> list[dict[str, object]]:
    """Each hostile scenario right after a run alone: the ratio compares neighbours in time, which
    matters on a machine shared with other work."""
    runs: list[dict[str, object]] = []
    with ledger_process(db_url, LEDGER_ID) as ledger:
        victim = Victim(ledger.target)
        victim.latencies(50)  # warm up
        scenarios = [
            ("unread, 1 address", "unread", False),
            ("unread, 8 addresses", "unread", True),
            ("idle-filtered, 8 addresses", "idle-filtered", True),
        ]
        for name, mode, spread in scenarios:
            alone = statistics.median(victim.latencies(transfers))
            with hostile(ledger.target, streams, mode, spread) as counts:
                rss = rss_mib(ledger.pid)
                cpu0, wall0 = process_seconds(ledger.pid), time.monotonic()
                lat = victim.latencies(transfers)
                cpu = (process_seconds(ledger.pid) - cpu0) / (time.monotonic() - wall0)
            p50 = statistics.median(lat)
            runs.append(
                {
                    "store": store,
                    "scenario": name,
                    "hostile_streams": streams,
                    "admitted": counts["admitted"],
                    "refused": counts["refused"],
                    "transfers": transfers,
                    "p50_alone_ms": round(alone, 2),
                    "p50_ms": round(p50, 2),
                    "p99_ms": round(percentile(lat, 0.99), 2),
                    "p50_vs_alone": round(p50 / alone, 2),
                    "ledger_cpu_s_per_s": round(cpu, 2),
                    "ledger_rss_mib": round(rss, 1),
                }
            )
            print_row(runs[-1])
    return runs


def delivery_runs(store: str, db_url: str, transfers: int) -> list[dict[str, object]]:
    """Reply-to-event latency on the writer's own process and on another process."""
    runs: list[dict[str, object]] = []
    with ledger_process(db_url, LEDGER_ID) as near, ledger_process(db_url, LEDGER_ID) as far:
        victim = Victim(near.target)
        for where, ledger in (("same process", near), ("other process", far)):
            arrived: dict[int, float] = {}
            channel = grpc.insecure_channel(ledger.target)
            stream = pb_grpc.LedgerStub(channel).Subscribe(
                pb.SubscribeRequest(account=victim.to, only_new=True), timeout=300
            )

            def read(
                stream: Iterator[pb.Event] = stream, arrived: dict[int, float] = arrived
            ) -> None:
                with contextlib.suppress(grpc.RpcError):
                    for event in stream:
                        arrived[event.amount] = time.perf_counter()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            time.sleep(1)
            replied: dict[int, float] = {}
            with grpc.insecure_channel(near.target) as ch:
                stub = pb_grpc.LedgerStub(ch)
                for i in range(transfers):
                    stub.Transfer(transfer_of(victim, amount=1000 + i), timeout=30)
                    replied[1000 + i] = time.perf_counter()
                    time.sleep(0.005)
            deadline = time.monotonic() + 10
            while len(arrived) < transfers and time.monotonic() < deadline:
                time.sleep(0.01)
            stream.cancel()  # type: ignore[attr-defined]
            channel.close()
            gaps = [(arrived[k] - replied[k]) * 1000 for k in replied if k in arrived]
            runs.append(
                {
                    "store": store,
                    "subscriber": where,
                    "events": transfers,
                    "delivered": len(gaps),
                    "p50_ms": round(statistics.median(gaps), 2),
                    "p99_ms": round(percentile(gaps, 0.99), 2),
                }
            )
            r = runs[-1]
            print(
                f"{store:<10} {where:<14} delivered {r['delivered']}/{transfers}  "
                f"reply->event p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms"
            )
    return runs


def transfer_of(victim: Victim, amount: int) -> pb.TransferRequest:
    victim.nonce += 1
    payload = pb.TransferPayload(
        from_account=victim.key.address, to_account=victim.to, amount=amount, nonce=victim.nonce
    )
    return pb.TransferRequest(transfer=sign(victim.key, LEDGER_ID, payload))


def print_row(r: dict[str, object]) -> None:
    print(
        f"{r['store']:<10} {r['scenario']:<27} admitted {r['admitted']:>4}  "
        f"p50 alone {r['p50_alone_ms']:>6} ms, beside {r['p50_ms']:>6} ms: "
        f"{r['p50_vs_alone']:>5}x (goal <= {GOAL_RATIO}x)  p99 {r['p99_ms']:>7} ms  "
        f"cpu {r['ledger_cpu_s_per_s']} s/s  rss {r['ledger_rss_mib']} MiB"
    )


@contextlib.contextmanager
def database(store: str) -> Iterator[str]:
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    with local_cluster(durable=True) as server:
        yield fresh_database(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--transfers", type=int, default=300)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--only", choices=["victim", "delivery"], help="run one part")
    parser.add_argument("--hold", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="unread", help=argparse.SUPPRESS)
    parser.add_argument("--spread", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        asyncio.run(hold_streams(args.hold, args.streams, args.mode, args.spread))
        return
    victim: list[dict[str, object]] = []
    delivery: list[dict[str, object]] = []
    for store in args.stores.split(","):
        if args.only != "delivery":
            with database(store) as url:
                victim += victim_runs(store, url, args.streams, args.transfers)
        if args.only != "victim":
            with database(store) as url:
                delivery += delivery_runs(store, url, min(args.transfers, 200))
    out = ROOT / "bench" / "results" / "subscribers.json"
    out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "goal": f"victim p50 beside hostile streams <= {GOAL_RATIO}x its p50 alone",
                "victim": victim,
                "delivery": delivery,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
