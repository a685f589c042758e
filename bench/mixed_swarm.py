"""A mixed swarm found through the tracker alone: who got what, how fast, who paid and earned.

Run: python bench/mixed_swarm.py [--size-mib 32] [--paid-uplink-mib 8] [--free-uplink-mib 2]

Every party is its own process on its own 127.0.x.y address and knows only the tracker's
announce URL (in the .torrent): a `btt tracker`; a paid seeder (`btt seed --tracker`, reserve
price, one paid slot, legacy peers served); a free seeder (a plain libtorrent session); the
standard client aria2c downloading (it never bids); two paid downloaders (`btt download`) with
different fixed bids, all started at once. A ledger runs in this process (SQLite). Prints per
downloader its throughput (wall time from the common start to its exit) and the bytes each
source gave it, what each paid and what the seeder earned, and whether the legacy client
finished. Writes bench/results/mixed_swarm.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from swarm import BenchLedger  # noqa: E402  (the sibling bench's in-process ledger)

from client_sdk.torrent.session import sha256_file, write_test_file  # noqa: E402

NET = "127.0.91"
RESERVE = 500  # units per piece
HIGH_BID, LOW_BID = 2_000, 1_000
FUNDS = 20_000_000
PASSWORD = "bench"


def btt(*args: str) -> list[str]:
    return [sys.executable, "-c", "from devnet.cli import main; main()", *args]


def env() -> dict[str, str]:
    return {**os.environ, "BTT_PASSWORD": PASSWORD, "GRPC_VERBOSITY": "ERROR"}


def wallet(home: Path) -> str:
    out = subprocess.run(
        btt("--home", str(home), "--json", "wallet", "new"),
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(out.stdout)["address"])


def free_seeder(ip: str, torrent: str, data: str, uplink: int) -> subprocess.Popen[str]:
    """A plain libtorrent seed (no payee service), announcing to the torrent's tracker."""
    code = (
        "import sys, time, libtorrent as lt\n"
        "from pathlib import Path\n"
        "from client_sdk.torrent.seeder import Seeder\n"
        f"s = Seeder({ip!r}, upload_limit={uplink})\n"
        f"ih = s.add(lt.torrent_info({torrent!r}), Path({data!r}))\n"
        "s.wait_seeding(ih)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
        "print(sum(p.delivered for p in s.stats()), flush=True)\n"
        "s.close()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def wait_all(procs: list[subprocess.Popen[Any]], timeout: float) -> dict[Any, float]:
    """When each process exited (monotonic seconds)."""
    ended: dict[Any, float] = {}
    deadline = time.monotonic() + timeout
    while len(ended) < len(procs) and time.monotonic() < deadline:
        for p in procs:
            if p not in ended and p.poll() is not None:
                ended[p] = time.monotonic()
        time.sleep(0.05)
    if len(ended) < len(procs):
        raise TimeoutError("a downloader did not finish")
    return ended


def aria2c(ip: str, out: Path, torrent: str) -> list[str]:
    return [
        "timeout",
        "300",
        "aria2c",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        f"--interface={ip}",
        "--listen-port=16881-16889",
        f"--dir={out}",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--seed-time=0",
        torrent,
    ]


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    if shutil.which("aria2c") is None:
        raise SystemExit("aria2c is not installed (Debian/Ubuntu package `aria2`)")
    size = args.size_mib * 2**20
    share = root / "share" / "film.bin"
    write_test_file(share, size, seed=11)
    procs: list[subprocess.Popen[str]] = []
    with BenchLedger(root) as ledger:
        tracker = subprocess.Popen(
            btt(
                "--json",
                "tracker",
                "--listen",
                f"{NET}.1:0",
                "--interval",
                "30",
                "--min-interval",
                "1",
            ),
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        procs.append(tracker)
        try:
            assert tracker.stdout is not None
            announce = json.loads(tracker.stdout.readline())["announce"]
            seller_home = root / "seller"
            wallet(seller_home)
            seller = subprocess.Popen(
                btt(
                    "--ledger",
                    ledger.target,
                    "--home",
                    str(seller_home),
                    "--json",
                    "seed",
                    str(share),
                    "--tracker",
                    announce,
                    "--listen",
                    f"{NET}.2:0",
                    "--reserve",
                    f"{RESERVE}u",
                    "--slots",
                    "1",
                    "--choke-interval",
                    "2",
                    "--upload-limit",
                    str(args.paid_uplink_mib * 2**20),
                ),
                env=env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            procs.append(seller)
            assert seller.stdout is not None
            ready = json.loads(seller.stdout.readline())
            torrent = str(ready["torrent"])
            free = free_seeder(f"{NET}.3", torrent, str(share.parent), args.free_uplink_mib * 2**20)
            procs.append(free)
            assert free.stdout is not None and free.stdout.readline().strip() == "ready"
            time.sleep(1.0)  # both seeders have announced
            commands = []
            for n, bid in ((4, HIGH_BID), (5, LOW_BID)):
                home = root / f"buyer{n}"
                ledger.fund(wallet(home), FUNDS)
                commands.append(
                    (
                        bid,
                        btt(
                            "--ledger",
                            ledger.target,
                            "--home",
                            str(home),
                            "--json",
                            "download",
                            torrent,
                            "--budget",
                            str(FUNDS // 1_000_000),
                            "--rate",
                            f"{bid}u",
                            "--listen",
                            f"{NET}.{n}:0",
                            "--out",
                            str(root / f"dl{n}"),
                            "--timeout",
                            "300",
                        ),
                    )
                )
            # Every downloader starts at once; each one's time is from here to its exit.
            t0 = time.monotonic()
            buyers = [
                (
                    bid,
                    subprocess.Popen(
                        cmd,
                        env=env(),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        cwd=ROOT,
                    ),
                )
                for bid, cmd in commands
            ]
            legacy = subprocess.Popen(
                aria2c(f"{NET}.6", root / "aria2", torrent),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs += [p for _, p in buyers] + [legacy]
            ended = wait_all([legacy, *(p for _, p in buyers)], timeout=330)
            legacy_s = ended[legacy] - t0
            paid = []
            for bid, proc in buyers:
                out, err = proc.communicate(timeout=30)
                if proc.returncode != 0:
                    raise RuntimeError(f"btt download (bid {bid}) failed: {err[-2000:]}")
                paid.append((bid, ended[proc] - t0, json.loads(out.strip().splitlines()[-1])))
            legacy_ok = legacy.returncode == 0 and sha256_file(
                root / "aria2" / "film.bin"
            ) == sha256_file(share)
            assert free.stdin is not None
            free.stdin.close()
            free_sent = int((free.stdout.readline() or "0").strip() or 0)
            seller.send_signal(signal.SIGTERM)
            out, _ = seller.communicate(timeout=120)
            stopped = json.loads(out.strip().splitlines()[-1])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
    earned = sum(c["best_cumulative"] for peer in stopped["peers"] for c in peer["channels"])
    endpoints = {
        f"{NET}.2": "paid seeder",
        f"{NET}.3": "free seeder",
        f"{NET}.4": f"bidder {HIGH_BID}u",
        f"{NET}.5": f"bidder {LOW_BID}u",
        f"{NET}.6": "aria2c",
    }
    rows = []
    for bid, wall, s in paid:
        sources = {}
        for p in s["peers"]:
            ip = p["endpoint"].rsplit(":", 1)[0]
            sources[endpoints.get(ip, ip)] = p["bytes"]
        rows.append(
            {
                "client": f"btt download, bid {bid}u",
                "bid": bid,
                "complete": s["complete"],
                "seconds": wall,
                "mib_s": size / 2**20 / wall,
                "paid": s["spent"],
                "rate": max((c["rate"] for c in s["channels"]), default=0),
                "bytes_from": sources,
            }
        )
    rows.append(
        {
            "client": "aria2c (never bids)",
            "complete": legacy_ok,
            "seconds": legacy_s,
            "mib_s": size / 2**20 / legacy_s if legacy_ok else 0.0,
            "paid": 0,
        }
    )
    return {
        "size_bytes": size,
        "reserve": RESERVE,
        "paid_uplink_mib_s": args.paid_uplink_mib,
        "free_uplink_mib_s": args.free_uplink_mib,
        "downloaders": rows,
        "paid_seeder_earned": earned,
        "paid_seeder_payers": [
            {
                "payer": p["payer"],
                "ip": p["ip"],
                "mode": p["mode"],
                "rate": p["rate"],
                "earned": sum(c["best_cumulative"] for c in p["channels"]),
            }
            for p in stopped["peers"]
        ],
        # What the paid seeder sent: to payers while they paid, and to each IP while it did not
        # (aria2c throughout; a bidder before its channel opened).
        "paid_seeder_sent_paid_bytes": sum(p["sent_bytes"] for p in stopped["peers"]),
        "paid_seeder_sent_unpaid_bytes": {
            endpoints.get(e["ip"], e["ip"]): e["sent_bytes"] for e in stopped.get("legacy", [])
        },
        "free_seeder_sent_bytes": free_sent,
        "legacy_client_finished": legacy_ok,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=32)
    ap.add_argument("--paid-uplink-mib", type=int, default=8)
    ap.add_argument("--free-uplink-mib", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if min(args.size_mib, args.paid_uplink_mib, args.free_uplink_mib) <= 0:
        ap.error("sizes and uplinks must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    print(f"{'client':28} {'done':>5} {'MiB/s':>7} {'paid':>10} {'rate':>6}  bytes from")
    for r in result["downloaders"]:
        sources = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in r.get("bytes_from", {}).items())
        print(
            f"{r['client']:28} {'yes' if r['complete'] else 'NO':>5} {r['mib_s']:7.2f}"
            f" {r['paid']:9d}u {r.get('rate', 0):5d}u  {sources}"
        )
    print(f"paid seeder earned {result['paid_seeder_earned']}u (reserve {RESERVE}u/piece)")
    for p in result["paid_seeder_payers"]:
        print(
            f"  from {p['ip']} ({p['payer'][:10]}...): {p['earned']}u,"
            f" {p['mode']} at the end (rate then {p['rate']}u/piece)"
        )
    unpaid = ", ".join(
        f"{k} {v / 2**20:.1f} MiB" for k, v in result["paid_seeder_sent_unpaid_bytes"].items()
    )
    print(
        f"paid seeder sent {result['paid_seeder_sent_paid_bytes'] / 2**20:.1f} MiB to payers,"
        f" unpaid (legacy slots): {unpaid or 'nothing'}"
    )
    print(f"free seeder sent {result['free_seeder_sent_bytes'] / 2**20:.1f} MiB, earned 0")
    print(f"legacy client (aria2c) finished: {result['legacy_client_finished']}")
    out = args.out or Path(__file__).resolve().parent / "results" / "mixed_swarm.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
