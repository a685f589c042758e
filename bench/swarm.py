"""Loopback swarm throughput: plain seeding vs seeding behind the exposure gate.

Run: python bench/swarm.py [--size-mib 64] [--runs 3] [--window BYTES]
Writes bench/results/swarm.json. A later --paid mode plugs a real payment channel in through
the same `credit` callable the in-process payer uses here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client_sdk.torrent.access import UnknownPeerPolicy
from client_sdk.torrent.downloader import Downloader
from client_sdk.torrent.peers import PeerKey
from client_sdk.torrent.seeder import Seeder
from client_sdk.torrent.session import create_torrent, write_test_file

Credit = Callable[[str, str, int], None]  # (payer ip, info hash, cumulative paid bytes)


def run_once(root: Path, src: Path, size: int, gated: bool, window: int, n: int) -> dict:
    ti = create_torrent(src)
    seeder_ip, dl_ip = f"127.0.77.{2 * n + 2}", f"127.0.77.{2 * n + 3}"
    seeder = Seeder(seeder_ip, gating=gated, window=window, unknown_peers=UnknownPeerPolicy.BLOCK)
    credit: Credit = seeder.credit
    paid = [0]
    lock = threading.Lock()

    def on_verified(ih: str, piece: int, shares: dict[PeerKey, int]) -> None:
        owed = sum(v for p, v in shares.items() if p.ip == seeder_ip)
        with lock:
            paid[0] += owed
            total = paid[0]
        credit(dl_ip, ih, total)

    dl = Downloader(dl_ip, root / f"dl{n}", on_piece_verified=on_verified if gated else None)
    try:
        ih = seeder.add(ti, src.parent)
        seeder.wait_seeding(ih)
        if gated:
            seeder.admit(dl_ip)
        cpu0, t0 = time.process_time(), time.perf_counter()
        dl.add(ti, [seeder.endpoint])
        dl.wait_complete(ih, timeout=120)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        return {
            "mode": "gated" if gated else "plain",
            "seconds": wall,
            "mib_s": size / wall / 2**20,
            # Both sessions share this process, so this is seeder + downloader CPU.
            "cpu_s_per_gib": cpu / (size / 2**30),
            "throttle_events": seeder.gate.throttle_events,
        }
    finally:
        dl.close()
        seeder.close()
        shutil.rmtree(root / f"dl{n}", ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=int, default=256 * 1024)
    args = ap.parse_args()
    if args.size_mib <= 0 or args.runs <= 0 or args.window < 0:
        ap.error("size, runs must be positive and window >= 0")
    size = args.size_mib * 2**20
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "seed" / "payload.bin"
        write_test_file(src, size)
        n = 0
        for _ in range(args.runs):
            for gated in (False, True):
                results.append(run_once(root, src, size, gated, args.window, n))
                n += 1
    plain = [r["mib_s"] for r in results if r["mode"] == "plain"]
    gated = [r["mib_s"] for r in results if r["mode"] == "gated"]
    ratio = (sum(gated) / len(gated)) / (sum(plain) / len(plain))
    print(f"{'mode':6} {'MiB/s':>8} {'CPU s/GiB':>10} {'throttles':>9}")
    for r in results:
        print(
            f"{r['mode']:6} {r['mib_s']:8.1f} {r['cpu_s_per_gib']:10.2f} {r['throttle_events']:9d}"
        )
    print(f"ratio gated/plain (mean MiB/s): {ratio:.3f}  window={args.window} bytes")
    out = Path(__file__).resolve().parent / "results" / "swarm.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"size_bytes": size, "window": args.window, "ratio": ratio, "runs": results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
