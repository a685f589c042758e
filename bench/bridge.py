"""Bridge latency: a deposit's solidification -> its ledger credit, and a withdrawal request ->
its broadcast, over N of each (default 100).

    python bench/bridge.py [--count 100] [--poll 0.05]

A devnode (blocks on demand, solid depth 2) and a real ledger gRPC server (SQLite) run in this
process; the bridge runs in its background thread, as in production, polling every --poll
seconds. The bench produces the blocks itself, so the instant a deposit's block becomes
solidified is known exactly. Prints median and p90, writes bench/results/bridge.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.config import BridgeConfig  # noqa: E402
from bridge.devnode import running_devnode  # noqa: E402
from bridge.devtools import deposit  # noqa: E402
from bridge.runner import BridgeRunner  # noqa: E402
from client_sdk.ledger_client import LedgerClient  # noqa: E402
from core.crypto import SigningKey  # noqa: E402
from core.status import WithdrawalStatus  # noqa: E402
from tests.ledger_harness import TREASURY_TOKEN, running_ledger  # noqa: E402

SOLID_DEPTH = 2
USER = SigningKey.from_bytes(bytes([0x61]) * 32)
BRIDGE = SigningKey.from_bytes(bytes([0x62]) * 32)


def wait_for(predicate, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the bridge did not act in time")
        time.sleep(0.002)
    return time.time()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median_s": round(statistics.median(ordered), 4),
        "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
        "max_s": round(ordered[-1], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--poll", type=float, default=0.05)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    with (
        running_devnode(tmp / "chain", block_interval=0, solid_depth=SOLID_DEPTH) as node,
        running_ledger(f"sqlite:///{tmp / 'ledger.db'}") as ledger,
    ):
        token = node.issue_token(USER.address, "BTT", 10**15)
        node.fund(USER.address, 10**10)
        node.fund(BRIDGE.address, 10**10)
        node.produce_blocks(SOLID_DEPTH + 1)
        config = BridgeConfig(
            node_url=node.url,
            ledger=ledger.target,
            treasury_token=TREASURY_TOKEN,
            db=f"sqlite:///{tmp / 'bridge.db'}",
            token_id=token,
            hot_key=BRIDGE.secret_bytes().hex(),
            poll_interval=args.poll,
        )
        user = LedgerClient(ledger.target, USER)
        with BridgeRunner(config) as runner:
            runner.start()
            credit: list[float] = []
            for i in range(args.count):
                amount = 1_000_000 + i
                before = user.balance(USER.address)
                deposit(runner.gateway, USER, BRIDGE.address, token, amount, USER.address)
                node.produce_blocks(SOLID_DEPTH + 1)  # included, then solidified
                solid_at = time.time()
                done = wait_for(lambda b=before, a=amount: user.balance(USER.address) == b + a)
                credit.append(done - solid_at)
            broadcast: list[float] = []
            for _ in range(args.count):
                asked = time.time()
                w = user.request_withdrawal(USER.address, 1_000)

                def sent(wid: int = w.withdrawal_id) -> bool:
                    txs = runner.store.txs(wid)
                    return bool(txs) and txs[0].broadcast_at is not None

                wait_for(sent)
                broadcast.append(runner.store.txs(w.withdrawal_id)[0].broadcast_at - asked)  # type: ignore[operator]
                node.produce_blocks(1)
            node.produce_blocks(SOLID_DEPTH + 1)
            wait_for(lambda: not runner.treasury.withdrawals(WithdrawalStatus.PENDING), timeout=30)
            runner.stop()
            rec = runner.reconcile()
        user.close()
    results = {
        "claim": "deposit solidified -> credited, and withdraw request -> broadcast, under 1 s",
        "poll_interval_s": args.poll,
        "deposit_solid_to_credit": summary(credit),
        "withdraw_request_to_broadcast": summary(broadcast),
        "reconciled_after_run": rec.ok,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    for name in ("deposit_solid_to_credit", "withdraw_request_to_broadcast"):
        s = results[name]
        print(f"{name:32} n={s['n']} median {s['median_s']:.3f}s p90 {s['p90_s']:.3f}s")  # type: ignore[index]
    print(f"reconciled after run: {rec.ok}")
    out = ROOT / "bench" / "results" / "bridge.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
