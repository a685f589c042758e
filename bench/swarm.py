"""Loopback swarm throughput: plain seeding vs seeding behind the exposure gate.

Run: python bench/swarm.py [--size-mib 64] [--runs 3] [--window BYTES] [--credit-delay-ms MS]
     python bench/swarm.py --paid [--size-mib 64] [--runs 3] [--window BYTES]

The seeder and the downloader run in separate processes (no shared GIL). In gated runs the
downloader pays for every verified piece through a `Credit` callable; here it forwards the
cumulative amount over a pipe to the seeder process, which calls `Seeder.credit`. A `--paid`
mode with real payment channels replaces that callable with the gRPC payment client; the
`--credit-delay-ms` option simulates its latency (~1 ms after the piece verifies).
Writes bench/results/swarm.json (or --out).

`--paid` compares plain seeding with the whole paid flow: a ledger in this process (SQLite),
a `PaidSeeder` (gate + payee gRPC service + market) in the seeder process and a
`PaidDownloader` (real channel, per-piece payments on the Pay stream) in the downloader
process. Writes bench/results/swarm-paid.json.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client_sdk.torrent.session import DEFAULT_PIECE_SIZE, create_torrent, write_test_file

Credit = Callable[[str, str, int], None]  # (payer ip, info hash, cumulative paid bytes)


@contextlib.contextmanager
def running_pair(
    seeder: BaseProcess, downloader: BaseProcess, save: Path, *, join_timeout: float
) -> Iterator[None]:
    """Start a seeder and a downloader process; always reap them and drop the downloaded files."""
    seeder.start()
    downloader.start()
    try:
        yield
    finally:
        for p in (downloader, seeder):
            p.join(join_timeout)
            if p.is_alive():
                p.kill()
        for f in save.glob("*"):
            if f.is_file():
                f.unlink()


def seeder_main(
    ip: str,
    src: str,
    torrent: bytes,
    gated: bool,
    window: int,
    ctl: Connection,
    credits: Connection,
) -> None:
    import libtorrent as lt

    from client_sdk.torrent.access import UnknownPeerPolicy
    from client_sdk.torrent.seeder import Seeder

    seeder = Seeder(ip, gating=gated, window=window, unknown_peers=UnknownPeerPolicy.BLOCK)
    try:
        ih = seeder.add(lt.torrent_info(lt.bdecode(torrent)), Path(src).parent)
        seeder.wait_seeding(ih)
        dl_ip = ctl.recv()
        if gated:
            seeder.admit(dl_ip)

        def pump_credits() -> None:
            while (msg := credits.recv()) is not None:
                seeder.credit(*msg)

        reader = threading.Thread(target=pump_credits, daemon=True)
        reader.start()
        ctl.send(seeder.endpoint)
        cpu0 = time.process_time()
        ctl.recv()  # download finished
        cpu = time.process_time() - cpu0
        acct = seeder.gate.account(dl_ip, ih)
        ctl.send(
            {
                "seeder_cpu_s": cpu,
                "throttle_events": seeder.gate.throttle_events,
                "drain_releases": seeder.gate.drain_releases,
                "peak_unpaid": acct.peak_unpaid if acct else 0,
                "peak_unpaid_complete": acct.peak_unpaid_complete if acct else 0,
                "pump_errors": len(seeder.pump_errors),
                "account": repr(acct),
            }
        )
    finally:
        seeder.close()


class DelayedCredit:
    """Delivers credits `delay` seconds after they are issued, in order, from one thread."""

    def __init__(self, send: Credit, delay: float) -> None:
        self._send = send
        self._delay = delay
        self._heap: list[tuple[float, int, tuple[str, str, int]]] = []
        self._seq = 0
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __call__(self, ip: str, ih: str, paid: int) -> None:
        with self._cv:
            self._seq += 1
            heapq.heappush(
                self._heap, (time.perf_counter() + self._delay, self._seq, (ip, ih, paid))
            )
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._closed:
                    self._cv.wait()
                if not self._heap:
                    return
                due, _, msg = self._heap[0]
                wait = due - time.perf_counter()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
            self._send(*msg)


def downloader_main(
    ip: str,
    torrent: bytes,
    save: str,
    gated: bool,
    delay_ms: float,
    timeout: float,
    ctl: Connection,
    credits: Connection,
) -> None:
    import libtorrent as lt

    from client_sdk.torrent.downloader import Downloader
    from client_sdk.torrent.peers import PeerKey

    send_lock = threading.Lock()

    def send(payer: str, ih: str, paid: int) -> None:
        with send_lock:
            credits.send((payer, ih, paid))

    credit: Credit = DelayedCredit(send, delay_ms / 1000) if delay_ms > 0 else send
    seeder_endpoint = ctl.recv()
    paid = [0]
    lock = threading.Lock()

    def on_verified(ih: str, piece: int, shares: dict[PeerKey, int]) -> None:
        owed = sum(v for p, v in shares.items() if p.ip == seeder_endpoint[0])
        with lock:
            paid[0] += owed
            total = paid[0]
        credit(ip, ih, total)

    ti = lt.torrent_info(lt.bdecode(torrent))
    dl = Downloader(ip, Path(save), on_piece_verified=on_verified if gated else None)
    try:
        t0 = time.perf_counter()
        ih = dl.add(ti, [tuple(seeder_endpoint)])
        dl.wait_complete(ih, timeout=timeout)
        wall = time.perf_counter() - t0
        ctl.send({"seconds": wall, "paid": paid[0], "pump_errors": len(dl.pump_errors)})
    finally:
        if isinstance(credit, DelayedCredit):
            credit.close()
        credits.send(None)
        dl.close()


def run_once(
    ctx: Any, root: Path, src: Path, torrent: bytes, gated: bool, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    seeder_ip, dl_ip = f"127.0.77.{2 * n + 2}", f"127.0.77.{2 * n + 3}"
    s_ctl, s_child = ctx.Pipe()
    d_ctl, d_child = ctx.Pipe()
    credit_rx, credit_tx = ctx.Pipe(duplex=False)
    seeder = ctx.Process(
        target=seeder_main,
        args=(seeder_ip, str(src), torrent, gated, args.window, s_child, credit_rx),
    )
    save = root / f"dl{n}"
    downloader = ctx.Process(
        target=downloader_main,
        args=(
            dl_ip,
            torrent,
            str(save),
            gated,
            args.credit_delay_ms,
            args.timeout,
            d_child,
            credit_tx,
        ),
    )
    with running_pair(seeder, downloader, save, join_timeout=30):
        s_ctl.send(dl_ip)
        if not s_ctl.poll(60):
            raise TimeoutError("seeder did not start")
        d_ctl.send(s_ctl.recv())
        if not d_ctl.poll(args.timeout + 30):
            s_ctl.send("done")
            stuck = s_ctl.recv() if s_ctl.poll(10) else {}
            raise TimeoutError(f"download did not finish; seeder: {stuck}")
        dres = d_ctl.recv()
        s_ctl.send("done")
        sres = s_ctl.recv()
    size = args.size_mib * 2**20
    if gated and dres["paid"] != size:
        raise AssertionError(f"paid {dres['paid']} != size {size}")
    return {
        "mode": "gated" if gated else "plain",
        "seconds": dres["seconds"],
        "mib_s": size / dres["seconds"] / 2**20,
        "seeder_cpu_s_per_gib": sres["seeder_cpu_s"] / (size / 2**30),
        "throttle_events": sres["throttle_events"],
        "drain_releases": sres["drain_releases"],
        "peak_unpaid_pieces": sres["peak_unpaid"] / DEFAULT_PIECE_SIZE,
        "peak_unpaid_complete_pieces": sres["peak_unpaid_complete"] / DEFAULT_PIECE_SIZE,
        "pump_errors": sres["pump_errors"] + dres["pump_errors"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=int, default=DEFAULT_PIECE_SIZE)
    ap.add_argument("--credit-delay-ms", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per download")
    ap.add_argument("--paid", action="store_true", help="plain vs real paid channels: frontier")
    ap.add_argument(
        "--windows", type=_ints, default=[1, 2, 4], help="--paid: windows in pieces (1,2,4)"
    )
    ap.add_argument(
        "--piece-kib", type=_ints, default=[256, 1024], help="--paid: piece sizes (256,1024)"
    )
    args = ap.parse_args()
    if args.size_mib <= 0 or args.runs <= 0 or args.window < 0 or args.credit_delay_ms < 0:
        ap.error("size and runs must be positive; window and delay >= 0")
    if any(w <= 0 for w in args.windows) or any(k < 16 or k & (k - 1) for k in args.piece_kib):
        ap.error("windows must be positive; piece sizes powers of two >= 16 KiB")
    size = args.size_mib * 2**20
    ctx = mp.get_context("spawn")
    if args.paid:
        from bench.swarm_paid import run_frontier  # it uses this module's plain runs

        with tempfile.TemporaryDirectory() as tmp:
            summary = run_frontier(ctx, Path(tmp), args)
        out = args.out or Path(__file__).resolve().parent / "results" / "swarm-paid.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n")
        return
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "seed" / "payload.bin"
        write_test_file(src, size)
        create_torrent(src, out=root / "payload.torrent")
        torrent = (root / "payload.torrent").read_bytes()
        for n in range(args.runs):
            for gated in (False, True):
                results.append(run_once(ctx, root, src, torrent, gated, args, 2 * n + int(gated)))

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results if r["mode"] == mode)

    ratio = med("gated", "mib_s") / med("plain", "mib_s")
    head = f"{'mode':6} {'MiB/s':>8} {'seeder CPU s/GiB':>17} {'throttles':>9} {'drains':>6}"
    print(head + f" {'peak unpaid (pieces)':>21}")
    for r in results:
        print(
            f"{r['mode']:6} {r['mib_s']:8.1f} {r['seeder_cpu_s_per_gib']:17.2f}"
            f" {r['throttle_events']:9d} {r['drain_releases']:6d}"
            f" {r['peak_unpaid_pieces']:21.2f}"
        )
    for mode in ("plain", "gated"):
        print(
            f"median {mode}: {med(mode, 'mib_s'):.1f} MiB/s,"
            f" seeder {med(mode, 'seeder_cpu_s_per_gib'):.2f} CPU s/GiB"
        )
    print(
        f"ratio gated/plain (medians): {ratio:.3f}  window={args.window} bytes"
        f"  credit delay={args.credit_delay_ms} ms"
    )
    out = args.out or Path(__file__).resolve().parent / "results" / "swarm.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "size_bytes": size,
        "window": args.window,
        "credit_delay_ms": args.credit_delay_ms,
        "median_mib_s": {m: med(m, "mib_s") for m in ("plain", "gated")},
        "median_seeder_cpu_s_per_gib": {
            m: med(m, "seeder_cpu_s_per_gib") for m in ("plain", "gated")
        },
        "ratio": ratio,
        "runs": results,
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,2,4: {text!r}") from None


if __name__ == "__main__":
    main()
