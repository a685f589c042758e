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
from typing import Any

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
from core.crypto import SigningKey  # noqa: E402
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


def _stream_worker(
    target: str, updates: list[Update], per_message: int, window: int, out: mp.Queue
) -> None:
    """Child process: stream `per_message` updates per gRPC message, at most `window` updates
    unanswered; time from the first write to the last receipt."""

    async def go() -> None:
        async with grpc.aio.insecure_channel(target) as ch:
            call = ppb_grpc.PayeeStub(ch).Pay()
            answered = accepted = 0
            room = asyncio.Event()

            async def read() -> None:
                nonlocal answered, accepted
                async for message in call:
                    answered += len(message.receipts)
                    accepted += sum(r.accepted for r in message.receipts)
                    room.set()

            messages = [
                ppb.PaymentUpdates(
                    updates=[
                        ppb.PaymentUpdate(channel_id=c, nonce=n, cumulative=v, signature=s)
                        for c, n, v, s in updates[i : i + per_message]
                    ]
                )
                for i in range(0, len(updates), per_message)
            ]
            start = time.perf_counter()
            reader = asyncio.create_task(read())
            sent = 0
            for message in messages:
                while sent - answered >= window:  # at most `window` updates unanswered
                    room.clear()
                    await room.wait()
                await call.write(message)
                sent += len(message.updates)
            await call.done_writing()
            await reader
            out.put({"seconds": time.perf_counter() - start, "accepted": accepted})

    asyncio.run(go())


async def measure(
    updates_n: int, per_message_sizes: list[int], window: int, tmp: Path
) -> dict[str, object]:
    with running_ledger(f"sqlite:///{tmp / 'ledger.db'}") as ledger:
        payee_key, payer_key = SigningKey.generate(), SigningKey.generate()
        ledger.fund(payer_key.address, 10**12)
        payee_ledger = AsyncLedgerClient(ledger.target, payee_key)
        book = await PayeeBook.create(
            payee_key,
            payee_ledger,
            PayeeStore(tmp / "payee.db"),
            terms=PayeeTerms(credit_pieces=10**9),
            policy=CheckpointPolicy(0, 0, 0),
            clock=ledger.clock,
        )
        server = PayeeServer(book)
        target = await server.start(watch_events=False)
        payer_ledger = AsyncLedgerClient(ledger.target, payer_key)
        payer_store = PayerStore(tmp / "payer.db")
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

        runs = []
        nonce, cumulative = channel.nonce, channel.cumulative
        for per_message in per_message_sizes:
            for grouped in (True, False):
                # Without grouping, each stream message is its own commit.
                server.servicer.max_batch = 4096 if grouped else 1
                n = updates_n if grouped or per_message > 1 else min(updates_n, 3000)
                updates = []
                for _ in range(n):
                    nonce, cumulative = nonce + 1, cumulative + 1
                    st = sign_state(
                        payer_key, ledger.ledger_id, channel.channel_id, nonce, cumulative
                    )
                    updates.append((st.channel_id, st.nonce, st.cumulative, st.signature))
                ctx = mp.get_context("spawn")
                out: mp.Queue = ctx.Queue()
                proc = ctx.Process(
                    target=_stream_worker, args=(target, updates, per_message, window, out)
                )
                proc.start()
                result = await asyncio.get_running_loop().run_in_executor(None, out.get)
                proc.join()
                assert result["accepted"] == n, result
                held = book.channels[channel.channel_id].record
                assert held.best_nonce == nonce, "payee lost updates"
                runs.append(
                    {
                        "updates_per_message": per_message,
                        "grouped_commits": grouped,
                        "updates": n,
                        "updates_per_s": n / result["seconds"],
                    }
                )

        await client.close()
        await server.stop(0)
        book.store.close()
        payer_store.close()
        await payee_ledger.close()
        await payer_ledger.close()
        return {"runs": runs, "sequential_pay_per_s": sequential}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    raw = raw_rates(args.raw)
    with tempfile.TemporaryDirectory(prefix="btt-bench-") as d:
        stream = await measure(args.updates, args.per_message, args.window, Path(d))
    runs = stream["runs"]
    best = max(r["updates_per_s"] for r in runs)  # type: ignore[attr-defined]
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "raw": raw,
        "runs": runs,
        "sequential_pay_per_s": stream["sequential_pay_per_s"],
        "best_updates_per_s": best,
        "best_fraction_of_raw_verify": best / raw["verify_per_s"],
        "best_fraction_of_raw_recover": best / raw["recover_per_s"],
        "window_updates": args.window,
        "goal_updates_per_s": 5000,
    }


def print_table(r: dict[str, Any]) -> None:
    raw = r["raw"]
    print(f"{'measure':<52}{'per second':>12}{'of verify':>11}")
    rows = [
        ("coincurve verify (raw, one core)", raw["verify_per_s"]),
        ("coincurve recover (raw; what the payee runs)", raw["recover_per_s"]),
    ]
    for run in r["runs"]:
        how = "grouped commits" if run["grouped_commits"] else "commit per message"
        rows.append(
            (
                f"payee stream, {run['updates_per_message']:>3} updates/msg, {how}",
                run["updates_per_s"],
            )
        )
    rows.append(("PayerChannel.pay, one at a time (sign+fsync+RTT)", r["sequential_pay_per_s"]))
    for name, value in rows:
        print(f"{name:<52}{value:>12,.0f}{value / raw['verify_per_s']:>11.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=2048, help="unanswered updates in flight")
    parser.add_argument(
        "--per-message", type=int, nargs="+", default=[1, 16, 128], help="updates per gRPC message"
    )
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
