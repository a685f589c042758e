"""What the promotional faucet's proof of work costs a claimant: solve time by difficulty.

    python bench/faucet.py [--bits 14 16 18 20] [--challenges 8]

Solves fresh random challenges with the client's solver (core/hashcash.py, one core, pure
Python + hashlib) and prints hashes tried, seconds and hashes per second for each difficulty,
and writes bench/results/faucet.json. Solve time is geometric around 2^bits hashes, so a few
challenges give a rough median; CPU seconds are reported beside wall seconds because the machine
is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from core.hashcash import expected_hashes, satisfies, solve

RESULTS = Path(__file__).resolve().parent / "results" / "faucet.json"


def measure(bits: int, challenges: int) -> dict[str, float]:
    walls, cpus, hashes = [], [], []
    for _ in range(challenges):
        challenge = os.urandom(48)
        tried = 0

        def count(n: int) -> None:
            nonlocal tried
            tried = n

        wall, cpu = time.perf_counter(), time.process_time()
        solution = solve(challenge, bits, on_progress=count)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        hashes.append(tried)
        assert satisfies(challenge, solution, bits)
    rate = sum(hashes) / sum(cpus)
    return {
        "bits": bits,
        "expected_hashes": expected_hashes(bits),
        "median_hashes": statistics.median(hashes),
        "median_wall_s": statistics.median(walls),
        "median_cpu_s": statistics.median(cpus),
        "hashes_per_cpu_s": rate,
        "expected_cpu_s": expected_hashes(bits) / rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[14, 16, 18, 20])
    parser.add_argument("--challenges", type=int, default=8)
    args = parser.parse_args()
    rows = [measure(bits, args.challenges) for bits in args.bits]
    print(
        f"{'bits':>4} {'expected':>10} {'median':>10} {'wall s':>7} {'cpu s':>7} "
        f"{'hash/cpu s':>11} {'2^bits/rate s':>13}"
    )
    for r in rows:
        print(
            f"{r['bits']:>4} {r['expected_hashes']:>10,} {r['median_hashes']:>10,.0f} "
            f"{r['median_wall_s']:>7.2f} {r['median_cpu_s']:>7.2f} {r['hashes_per_cpu_s']:>11,.0f} "
            f"{r['expected_cpu_s']:>13.2f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"challenges": args.challenges, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
