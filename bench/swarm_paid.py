"""The paid half of bench/swarm.py (`--paid`): plain seeding against the whole paid flow.

A ledger in the parent process (SQLite), a `PaidSeeder` (gate + payee gRPC service + market) in
the seeder process and a `PaidDownloader` (real channel, per-piece payments on the Pay stream) in
the downloader process, over a frontier of windows and piece sizes; run by `bench/swarm.py --paid`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.swarm import run_once, running_pair
from client_sdk.torrent.session import create_torrent, write_test_file

PAID_RATE = 20_000  # units per piece: 64 MiB cost 5.12 BTT, above the 1 BTT minimum deposit


class ExposureSampler:
    """Samples, every millisecond, what the seeder has handed to libtorrent for the payer (payload
    sent on its sockets plus what waits in its send buffers) minus what the payer has paid for;
    keeps the maximum. Independent of the gate's own books and of the alert thread's lag. Its own
    CPU time (`cpu_s`) is left out of the seeder's."""

    def __init__(self, seeder: Any, info_hash: str) -> None:
        self._seeder = seeder
        self._ih = info_hash
        self.peak = 0
        self.samples = 0
        self._clock = 0
        self._started = threading.Event()
        # (process CPU, this thread's CPU) when the first byte was handed: the transfer's start
        self.first_byte_cpu: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exposure-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        handle = self._seeder.seeder.handle(self._ih)
        gate = self._seeder.seeder.gate
        self._clock = time.pthread_getcpuclockid(threading.get_ident())
        self._started.set()
        while not self._stop.wait(0.001):
            handed: dict[str, int] = {}
            for p in handle.get_peer_info():
                ip = str(p.ip[0])
                handed[ip] = handed.get(ip, 0) + int(p.total_upload) + int(p.used_send_buffer)
            for ip, n in handed.items():
                self.peak = max(self.peak, n - gate.paid(ip, self._ih))
            if self.first_byte_cpu is None and any(handed.values()):
                self.first_byte_cpu = (time.process_time(), time.clock_gettime(self._clock))
            self.samples += 1

    def cpu_s(self) -> float:
        """CPU seconds the sampling thread has used so far."""
        self._started.wait(5)
        return time.clock_gettime(self._clock)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def paid_seeder_main(
    ip: str,
    src: str,
    torrent: bytes,
    window: int,
    inflight: int,
    ledger: str,
    key_hex: str,
    ctl: Connection,
) -> None:
    import libtorrent as lt

    from client_sdk.torrent.access import LegacyPeers
    from client_sdk.torrent.paid import PaidSeeder, PaidSeederConfig
    from core.crypto import SigningKey

    with tempfile.TemporaryDirectory() as tmp:
        # Every byte of the paid run is paid for: no free service before the channel opens.
        config = PaidSeederConfig(
            reserve=PAID_RATE,
            window=window,
            inflight=inflight,
            choke_interval=10.0,
            legacy_peers=LegacyPeers.BLOCK,
        )
        seeder = PaidSeeder(
            ip, SigningKey.from_hex(key_hex), ledger, Path(tmp) / "payee.db", config=config
        )
        try:
            ih = seeder.add(lt.torrent_info(lt.bdecode(torrent)), Path(src).parent)
            seeder.start()
            sampler = ExposureSampler(seeder, ih)
            ctl.send((seeder.bt_endpoint, seeder.payee_target))
            ctl.recv()  # download finished
            # From the first byte handed to the end, as in plain runs (no channel set-up).
            cpu0, sampler0 = sampler.first_byte_cpu or (time.process_time(), sampler.cpu_s())
            cpu = time.process_time() - cpu0 - (sampler.cpu_s() - sampler0)
            sampler.stop()
            stats = seeder.stats()
            gate = seeder.seeder.gate
            (peer,) = stats["peers"]
            acct = gate.account(peer["ip"], peer["info_hash"])
            seeder.close_all()
            ctl.send(
                {
                    "seeder_cpu_s": cpu,
                    "throttle_events": gate.throttle_events,
                    "drain_releases": gate.drain_releases,
                    "peak_unpaid": acct.peak_unpaid if acct else 0,
                    "peak_unpaid_complete": acct.peak_unpaid_complete if acct else 0,
                    "peak_exposure": sampler.peak,
                    "exposure_samples": sampler.samples,
                    "pump_errors": len(seeder.seeder.pump_errors),
                    # A download that ends within its free allowance opened no channel.
                    "best_cumulative": sum(c["best_cumulative"] for c in peer["channels"]),
                }
            )
        finally:
            seeder.stop(close_channels=False)


def paid_downloader_main(
    ip: str, torrent: bytes, save: str, ledger: str, key_hex: str, timeout: float, ctl: Connection
) -> None:
    import libtorrent as lt

    from client_sdk.torrent.paid import PaidDownloader
    from core.crypto import SigningKey

    bt, payee = ctl.recv()
    ti = lt.torrent_info(lt.bdecode(torrent))
    dl = PaidDownloader(
        key=SigningKey.from_hex(key_hex),
        ledger_target=ledger,
        ip=ip,
        out_dir=Path(save),
        source=ti,
        budget=PAID_RATE * ti.num_pieces() * 2,
        seeders=[(bt, payee)],
        rate=PAID_RATE,
        timeout=timeout,
    )
    summary = dl.run()
    # From the first connection to the last verified piece: what `seconds` means in plain runs.
    ctl.send(
        {
            "seconds": summary.transfer_seconds,
            "setup_seconds": summary.seconds - summary.transfer_seconds,
            "paid": summary.spent,
            "complete": summary.complete,
        }
    )


def run_paid_once(
    ctx: Any,
    root: Path,
    src: Path,
    torrent: bytes,
    ledger: Any,
    args: argparse.Namespace,
    n: int,
    *,
    piece: int,
    window_pieces: int,
) -> dict[str, Any]:
    from core.crypto import SigningKey

    seeder_ip, dl_ip = f"127.0.78.{2 * n + 2}", f"127.0.78.{2 * n + 3}"
    payee_key, payer_key = SigningKey.generate(), SigningKey.generate()
    size = args.size_mib * 2**20
    pieces = -(-size // piece)
    ledger.fund(payer_key.address, PAID_RATE * pieces * 2)
    s_ctl, s_child = ctx.Pipe()
    d_ctl, d_child = ctx.Pipe()
    save = root / f"pdl{n}"
    seeder = ctx.Process(
        target=paid_seeder_main,
        args=(
            seeder_ip,
            str(src),
            torrent,
            window_pieces * piece,
            piece,
            ledger.target,
            payee_key.secret_bytes().hex(),
            s_child,
        ),
    )
    downloader = ctx.Process(
        target=paid_downloader_main,
        args=(
            dl_ip,
            torrent,
            str(save),
            ledger.target,
            payer_key.secret_bytes().hex(),
            args.timeout,
            d_child,
        ),
    )
    with running_pair(seeder, downloader, save, join_timeout=60):
        if not s_ctl.poll(60):
            raise TimeoutError("seeder did not start")
        d_ctl.send(s_ctl.recv())
        if not d_ctl.poll(args.timeout + 60):
            raise TimeoutError("paid download did not finish")
        dres = d_ctl.recv()
        s_ctl.send("done")
        sres = s_ctl.recv()
    if not dres["complete"] or dres["paid"] != PAID_RATE * pieces:
        raise AssertionError(f"paid run: {dres}")
    if sres["best_cumulative"] != dres["paid"]:
        raise AssertionError(f"payee holds {sres['best_cumulative']}, payer paid {dres['paid']}")
    return {
        "mode": "paid",
        "piece_kib": piece // 1024,
        "window_pieces": window_pieces,
        "seconds": dres["seconds"],
        "setup_seconds": dres["setup_seconds"],
        "mib_s": size / dres["seconds"] / 2**20,
        "seeder_cpu_s_per_gib": sres["seeder_cpu_s"] / (size / 2**30),
        "throttle_events": sres["throttle_events"],
        "drain_releases": sres["drain_releases"],
        "peak_exposure_pieces": sres["peak_exposure"] / piece,
        "exposure_samples": sres["exposure_samples"],
        "peak_unpaid_pieces": sres["peak_unpaid"] / piece,
        "peak_unpaid_complete_pieces": sres["peak_unpaid_complete"] / piece,
        "pump_errors": sres["pump_errors"],
    }


# Issue goals for the paid flow, printed beside the figures.
GOAL_RATIO = 0.9  # paid/plain throughput, at least
GOAL_CPU = 1.5  # paid/plain seeder CPU per GiB, at most
GOAL_EXPOSURE = 1.0  # peak delivered-and-unpaid, in windows (one piece by default), at most


def run_frontier(ctx: Any, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Plain and paid runs side by side for each piece size and window; ratios within a pair."""
    size = args.size_mib * 2**20
    src = root / "seed" / "payload.bin"
    write_test_file(src, size)
    rows: list[dict[str, Any]] = []
    n = 0
    with BenchLedger(root) as ledger:
        for piece_kib in args.piece_kib:
            piece = piece_kib * 1024
            out = root / f"payload-{piece_kib}.torrent"
            create_torrent(src, piece_size=piece, out=out)
            torrent = out.read_bytes()
            for window in args.windows:
                for _ in range(args.runs):
                    plain = run_once(ctx, root, src, torrent, False, args, 2 * n)
                    paid = run_paid_once(
                        ctx, root, src, torrent, ledger, args, n, piece=piece, window_pieces=window
                    )
                    n += 1
                    rows.append(
                        {
                            **paid,
                            "plain_mib_s": plain["mib_s"],
                            "plain_cpu_s_per_gib": plain["seeder_cpu_s_per_gib"],
                            "ratio": paid["mib_s"] / plain["mib_s"],
                            "cpu_ratio": paid["seeder_cpu_s_per_gib"]
                            / plain["seeder_cpu_s_per_gib"],
                            "exposure_windows": paid["peak_exposure_pieces"] / window,
                        }
                    )
    print(
        f"{'piece':>6} {'window':>6} {'plain MiB/s':>11} {'paid MiB/s':>10}"
        f" {'ratio':>6} {'(goal)':>7} {'CPU x':>6} {'(goal)':>7}"
        f" {'peak exposure':>13} {'(goal)':>7} {'gate books':>10}"
    )
    for r in rows:
        print(
            f"{r['piece_kib']:>4}Ki {r['window_pieces']:>6} {r['plain_mib_s']:11.1f}"
            f" {r['mib_s']:10.1f} {r['ratio']:6.2f} {'>=' + str(GOAL_RATIO):>7}"
            f" {r['cpu_ratio']:6.2f} {'<=' + str(GOAL_CPU):>7}"
            f" {r['peak_exposure_pieces']:10.2f} pc {'<=' + str(r['window_pieces']) + ' pc':>7}"
            f" {r['peak_unpaid_pieces']:7.2f} pc"
        )
    return {
        "size_bytes": size,
        "goals": {"ratio": GOAL_RATIO, "cpu_ratio": GOAL_CPU, "exposure_windows": GOAL_EXPOSURE},
        "frontier": rows,
    }


class BenchLedger:
    """A ledger over SQLite in a thread of this process, with a treasury to fund payers."""

    TOKEN = "bench-treasury"

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cm: Any = None
        self.target = ""

    def __enter__(self) -> BenchLedger:
        from ledger.embedded import serving_in_thread
        from ledger.rpc.server import build_service

        self._service = build_service(f"sqlite:///{self._root / 'ledger.db'}", migrate=True)
        self._cm = serving_in_thread(self._service, treasury_token=self.TOKEN)
        self.target = self._cm.__enter__().target
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)
        self._service.store.dispose()

    def fund(self, account: str, amount: int) -> None:
        from bench.ledger_proc import fund

        fund(self.target, [account], amount, self.TOKEN)
