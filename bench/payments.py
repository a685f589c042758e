"""How many payment updates one payee verifies and durably records per second, end to end
through its gRPC Pay stream, beside the raw secp256k1 verify rate of coincurve on this machine.

The payer runs in a separate process and streams pre-signed updates as fast as the stream takes
them (signing is the payer's cost, not the payee's). The payee commits each group of updates that
arrived together in one fsync'd SQLite transaction before it sends their receipts; the run is
repeated with one commit per update to show what the grouping buys.

Usage: python bench/payments.py [--updates 20000] [--out bench/results/payments.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from coincurve import PrivateKey, PublicKey  # noqa: E402

from btt.payee.v1 import payee_pb2 as ppb  # noqa: E402
from btt.payee.v1 import payee_pb2_grpc as ppb_grpc  # noqa: E402
from client_sdk.channel import (  # noqa: E402
    CheckpointPolicy,
    PayeeBook,
    PayeeStore,
    PayeeTerms,
    PayerChannel,
    PayerStore,
    sign_state,
)
from client_sdk.ledger_client import AsyncLedgerClient  # noqa: E402
from client_sdk.p2p import PayeeClient, PayeeServer  # noqa: E402
from ledger.crypto import SigningKey  # noqa: E402
from tests.ledger_harness import running_ledger  # noqa: E402

Update = tuple[bytes, int, int, bytes]


def raw_rates(n: int) -> dict[str, float]:
    """coincurve alone: verify (DER, known key) and public-key recovery (what the payee does)."""
    key = PrivateKey(os.urandom(32))
    digest = os.urandom(32)
    der, rec, pub = (
        key.sign(digest, hasher=None),
        key.sign_recoverable(digest, hasher=None),
        key.public_key,
    )
    t = time.perf_counter()
    for _ in range(n):
        pub.verify(der, digest, hasher=None)
    verify = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        PublicKey.from_signature_and_message(rec, digest, hasher=None)
    recover = n / (time.perf_counter() - t)
    return {"verify_per_s": verify, "recover_per_s": recover}


def _stream_worker(target: str, updates: list[Update], window: int, out: mp.Queue) -> None:
    """Child process: stream the updates with at most `window` unanswered; time to last receipt."""

    async def go() -> None:
        async with grpc.aio.insecure_channel(target) as ch:
            call = ppb_grpc.PayeeStub(ch).Pay()
            sem = asyncio.Semaphore(window)
            accepted = 0

            async def read() -> None:
                nonlocal accepted
                async for receipt in call:
                    accepted += receipt.accepted
                    sem.release()

            start = time.perf_counter()
            reader = asyncio.create_task(read())
            for cid, nonce, cum, sig in updates:
                await sem.acquire()
                await call.write(
                    ppb.PaymentUpdate(channel_id=cid, nonce=nonce, cumulative=cum, signature=sig)
                )
            await call.done_writing()
            await reader
            out.put({"seconds": time.perf_counter() - start, "accepted": accepted})

    asyncio.run(go())


async def measure(updates_n: int, window: int, batched: bool, tmp: Path) -> dict[str, float]:
    with running_ledger(f"sqlite:///{tmp / f'ledger-{batched}.db'}") as ledger:
        payee_key, payer_key = SigningKey.generate(), SigningKey.generate()
        ledger.fund(payer_key.address, 10**12)
        payee_ledger = AsyncLedgerClient(ledger.target, payee_key)
        book = await PayeeBook.create(
            payee_key,
            payee_ledger,
            PayeeStore(tmp / f"payee-{batched}.db"),
            terms=PayeeTerms(credit_pieces=10**9),
            policy=CheckpointPolicy(0, 0, 0),
            clock=ledger.clock,
        )
        server = PayeeServer(book)
        if not batched:
            server.servicer.max_batch = 1
        target = await server.start(watch_events=False)
        payer_ledger = AsyncLedgerClient(ledger.target, payer_key)
        payer_store = PayerStore(tmp / f"payer-{batched}.db")
        client = PayeeClient(target)
        channel = await PayerChannel.open(
            key=payer_key,
            ledger=payer_ledger,
            payee=client,
            store=payer_store,
            info_hash="00" * 20,
            peer_endpoint="127.0.0.1:6881",
            bid=1,
            deposit=10**9,
        )
        # The SDK's own sequential path: sign, fsync, send, await receipt - one at a time.
        seq_n = min(1000, updates_n)
        t = time.perf_counter()
        for _ in range(seq_n):
            await channel.pay(1)
        sequential = seq_n / (time.perf_counter() - t)

        base = channel.cumulative
        updates = []
        for i in range(1, updates_n + 1):
            s = sign_state(payer_key, ledger.ledger_id, channel.channel_id, seq_n + i, base + i)
            updates.append((s.channel_id, s.nonce, s.cumulative, s.signature))
        ctx = mp.get_context("spawn")
        out: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_stream_worker, args=(target, updates, window, out))
        commits_before = _commit_count(book)
        proc.start()
        result = await asyncio.get_running_loop().run_in_executor(None, out.get)
        proc.join()
        held = book.channels[channel.channel_id].record
        assert held.best_nonce == seq_n + updates_n, "payee lost updates"
        assert result["accepted"] == updates_n, result
        del commits_before

        await client.close()
        await server.stop(0)
        book.store.close()
        payer_store.close()
        await payee_ledger.close()
        await payer_ledger.close()
        return {
            "updates": updates_n,
            "stream_updates_per_s": updates_n / result["seconds"],
            "sequential_pay_per_s": sequential,
        }


def _commit_count(book: PayeeBook) -> int:
    return 0


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    raw = raw_rates(args.raw)
    with tempfile.TemporaryDirectory(prefix="btt-bench-") as d:
        tmp = Path(d)
        batched = await measure(args.updates, args.window, True, tmp)
        single = await measure(max(2000, args.updates // 10), args.window, False, tmp)
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "raw": raw,
        "batched_commits": batched,
        "commit_per_update": single,
        "fraction_of_raw_verify": batched["stream_updates_per_s"] / raw["verify_per_s"],
        "fraction_of_raw_recover": batched["stream_updates_per_s"] / raw["recover_per_s"],
        "window": args.window,
        "goal_updates_per_s": 5000,
    }


def print_table(r: dict[str, object]) -> None:
    raw = r["raw"]  # type: ignore[index]
    b = r["batched_commits"]  # type: ignore[index]
    s = r["commit_per_update"]  # type: ignore[index]
    rows = [
        ("coincurve verify (raw)", raw["verify_per_s"]),
        ("coincurve recover (raw)", raw["recover_per_s"]),
        ("payee stream, grouped commits", b["stream_updates_per_s"]),
        ("payee stream, commit per update", s["stream_updates_per_s"]),
        ("PayerChannel.pay sequential", b["sequential_pay_per_s"]),
    ]
    print(f"{'measure':<36}{'per second':>14}")
    for name, value in rows:
        print(f"{name:<36}{value:>14,.0f}")
    print(f"grouped stream / raw verify: {r['fraction_of_raw_verify']:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=1024, help="unanswered updates in flight")
    parser.add_argument("--raw", type=int, default=20_000, help="iterations of the raw loops")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "payments.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
