"""Connection keepalive and idle limits, seen from a raw HTTP/2 client: what the server sends
(GOAWAY and its reason) and when it closes the connection."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import ManualClock
from core.keepalive import Keepalive
from core.rejections import RATE_LIMITED, reason_of
from ledger.embedded import serving_in_thread
from ledger.rpc.server import build_service
from tests.ledger_process import ledger_process

pytestmark = pytest.mark.timeout(90)

SETTINGS, PING, GOAWAY = 4, 6, 7
ACK = 1
ENHANCE_YOUR_CALM = 0xB
INTERNAL_ERROR = 0x2  # what gRPC 1.85 sends with "connection idle" (measured)


def frame(kind: int, flags: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", 0) + payload
    )


@dataclass
class Seen:
    frames: list[tuple[int, int, bytes, float]]  # kind, flags, payload, seconds after connecting
    closed_at: float | None  # when the server closed the connection

    def goaway(self) -> tuple[int, bytes, float]:
        """(error code, debug text, when) of the server's GOAWAY."""
        for kind, _, payload, at in self.frames:
            if kind == GOAWAY:
                return int.from_bytes(payload[4:8], "big"), payload[8:], at
        raise AssertionError(f"no GOAWAY in {self.frames}")

    def pings(self) -> list[float]:
        return [at for kind, flags, _, at in self.frames if kind == PING and not flags & ACK]


def watch(
    target: str,
    seconds: float,
    *,
    answer_pings: bool = True,
    each_turn: Callable[[socket.socket], None] | None = None,
) -> Seen:
    """Open an HTTP/2 connection that makes no call, and record what the server does."""
    host, _, port = target.rpartition(":")
    seen = Seen([], None)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0))
        sock.settimeout(0.05)
        start = time.monotonic()
        buffer = b""
        while time.monotonic() - start < seconds:
            if each_turn is not None:
                with contextlib.suppress(OSError):
                    each_turn(sock)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            at = time.monotonic() - start
            if not data:
                seen.closed_at = at
                return seen
            buffer += data
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                size = int.from_bytes(buffer[:3], "big")
                kind, flags, payload = buffer[3], buffer[4], buffer[9 : 9 + size]
                buffer = buffer[9 + size :]
                seen.frames.append((kind, flags, payload, at))
                if kind == SETTINGS and not flags & ACK:
                    sock.sendall(frame(SETTINGS, ACK))
                if kind == PING and not flags & ACK and answer_pings:
                    sock.sendall(frame(PING, ACK, payload))
    return seen


@contextlib.contextmanager
def ledger(sqlite_url: str, keepalive: Keepalive) -> Iterator[str]:
    service = build_service(sqlite_url, ledger_id="keepalive", clock=ManualClock(), migrate=True)
    try:
        with serving_in_thread(service, sweep_interval=None, keepalive=keepalive) as running:
            yield running.target
    finally:
        service.store.dispose()


def pinging(sock: socket.socket) -> None:
    sock.sendall(frame(PING, 0, time.monotonic_ns().to_bytes(8, "big")))


def test_an_idle_connection_is_sent_goaway_and_closed(sqlite_url: str) -> None:
    with ledger(sqlite_url, Keepalive(idle=0.5)) as target:
        seen = watch(target, 20)
    code, text, at = seen.goaway()
    assert (code, text) == (INTERNAL_ERROR, b"connection idle")
    assert 0.4 <= at < 10
    assert seen.closed_at is not None and seen.closed_at < 10


def test_a_busy_connection_is_not_idle(sqlite_url: str) -> None:
    with (
        ledger(sqlite_url, Keepalive(idle=0.5)) as target,
        grpc.insecure_channel(target) as channel,
    ):
        stub = pb_grpc.LedgerStub(channel)
        stream = stub.Subscribe(pb.SubscribeRequest(only_new=True), timeout=30)
        time.sleep(2)  # four idle periods with a call open
        assert stub.GetInfo(pb.GetInfoRequest(), timeout=5).ledger_id == "keepalive"
        assert channel._channel.check_connectivity_state(False) == 2  # type: ignore[attr-defined]
        stream.cancel()  # type: ignore[attr-defined]


def test_a_ping_flooding_client_is_cut_off(sqlite_url: str) -> None:
    with ledger(sqlite_url, Keepalive(min_ping_interval=60, max_ping_strikes=2)) as target:
        seen = watch(target, 20, each_turn=pinging)
    code, text, _ = seen.goaway()
    assert (code, text) == (ENHANCE_YOUR_CALM, b"too_many_pings")
    assert seen.closed_at is not None
    answered = [f for f in seen.frames if f[0] == PING and f[1] & ACK]
    # Measured: the first ping is free, two strikes are tolerated, the third ends the connection
    # (gRPC still answers that ping, then sends GOAWAY): 4 answers, or 5 when a frame the server
    # sends meanwhile (its SETTINGS ack) resets the strike count once. Never an unbounded flood.
    assert 4 <= len(answered) <= 5


def test_pings_at_the_allowed_interval_are_fine(sqlite_url: str) -> None:
    last = [0.0]

    def slow_pings(sock: socket.socket) -> None:
        if time.monotonic() - last[0] >= 0.3:
            last[0] = time.monotonic()
            pinging(sock)

    with ledger(sqlite_url, Keepalive(min_ping_interval=0.2, max_ping_strikes=1, idle=0)) as t:
        seen = watch(t, 2.5, each_turn=slow_pings)
    assert seen.closed_at is None
    assert not [f for f in seen.frames if f[0] == GOAWAY]


def test_a_peer_that_stops_answering_pings_is_dropped(sqlite_url: str) -> None:
    with ledger(sqlite_url, Keepalive(time=0.5, timeout=0.5, idle=0)) as target:
        seen = watch(target, 30, answer_pings=False)
    assert seen.pings() and 0.4 <= seen.pings()[0] < 5
    _, text, at = seen.goaway()
    assert text == b"ping_timeout"
    assert at - seen.pings()[0] < 5  # the timeout, not gRPC's own 60 s
    assert seen.closed_at is not None


def test_serve_flags_set_the_limits(tmp_path: Path) -> None:
    args = ("--idle-timeout", "0.5", "--min-ping-interval", "60", "--max-ping-strikes", "1")
    limits = ("--rate-limit", "1", "--rate-burst", "2")
    with ledger_process(tmp_path, *args, *limits) as ledger:
        idle = watch(ledger.target, 20)
        assert idle.goaway()[:2] == (INTERNAL_ERROR, b"connection idle")
        flood = watch(ledger.target, 20, each_turn=pinging)
        assert flood.goaway()[:2] == (ENHANCE_YOUR_CALM, b"too_many_pings")
        with grpc.insecure_channel(ledger.target) as channel:
            stub = pb_grpc.LedgerStub(channel)
            stub.GetInfo(pb.GetInfoRequest(), timeout=5)
            stub.GetInfo(pb.GetInfoRequest(), timeout=5)
            with pytest.raises(grpc.RpcError) as over:
                stub.GetInfo(pb.GetInfoRequest(), timeout=5)
            assert reason_of(over.value) == RATE_LIMITED


def test_serve_refuses_limits_that_cannot_work(tmp_path: Path) -> None:
    for flags, needle in (
        (["--rate-limit", "-1"], "request rate"),
        (["--keepalive-time", "0"], "keepalive time"),
        (["--idle-timeout", "-5"], "keepalive idle"),
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ledger.cli",
                "serve",
                "--db",
                f"sqlite:///{tmp_path}/l.db",
                *flags,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and needle in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
