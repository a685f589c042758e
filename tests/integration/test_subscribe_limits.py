"""Subscribe streams are capped (in all, per client address, unfiltered), a reader that falls
behind is cut off with RESOURCE_EXHAUSTED while the others get everything, and a stream filtered
on an idle account is never offered an event."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import ManualClock
from core.crypto import SigningKey
from core.rejections import SLOW_CONSUMER, TOO_MANY_STREAMS, reason_of
from ledger.embedded import serving_in_thread
from ledger.rpc.server import RunningLedger, build_service
from ledger.rpc.subscriptions import StreamLimits
from ledger.service import LedgerService
from tests.tcprelay import relays

pytestmark = pytest.mark.timeout(90)

# A client that reads ahead little and grows no large receive window: unread, its stream blocks
# the ledger's writes after a few KiB.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)]


@dataclass
class Rig:
    running: RunningLedger

    @property
    def service(self) -> LedgerService:
        return self.running.service

    def credit(self, account: str, amount: int = 1) -> None:
        self.service.credit_deposit(os.urandom(32).hex(), 0, account, amount, account)


@contextlib.contextmanager
def rig(sqlite_url: str, limits: StreamLimits) -> Iterator[Rig]:
    service = build_service(sqlite_url, ledger_id="limits", clock=ManualClock(), migrate=True)
    try:
        with serving_in_thread(service, sweep_interval=None, stream_limits=limits) as running:
            yield Rig(running)
    finally:
        service.store.dispose()


def subscribe(
    target: str, account: str = "", after: int = 0, options: list[tuple[str, int]] | None = None
) -> tuple[grpc.Channel, Iterator[pb.Event]]:
    channel = grpc.insecure_channel(target, options=options or [])
    stream = pb_grpc.LedgerStub(channel).Subscribe(
        pb.SubscribeRequest(account=account, after_event_id=after), timeout=60
    )
    return channel, stream


def refused(stream: Iterator[pb.Event]) -> str | None:
    """The reason a stream was refused with RESOURCE_EXHAUSTED, or None if it yields events."""
    try:
        next(stream)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
        return reason_of(exc)
    return None


def test_streams_are_capped_in_all_per_client_and_unfiltered(sqlite_url: str) -> None:
    limits = StreamLimits(max_streams=5, max_per_client=3, max_unfiltered=1)
    account = SigningKey.generate().address
    with rig(sqlite_url, limits) as r:
        r.credit(account)  # every accepted stream below starts by replaying this event
        target = r.running.target
        opened = []

        def accepted(target: str, account: str = "") -> bool:
            channel, stream = subscribe(target, account)
            reason = refused(stream)
            opened.append((channel, stream))
            if reason is not None:
                assert reason == TOO_MANY_STREAMS
            return reason is None

        try:
            assert accepted(target)
            assert not accepted(target)  # a second unfiltered stream
            assert accepted(target, account) and accepted(target, account)
            assert not accepted(target, account)  # a fourth from 127.0.0.1
            with relays(target, ["127.0.0.2", "127.0.0.3"]) as (two, three):
                assert accepted(two, account) and accepted(two, account)
                assert not accepted(three, account)  # five in all
                assert r.running.hub.streams == 5
                channel, stream = opened[0]
                stream.cancel()  # type: ignore[attr-defined]
                deadline = time.monotonic() + 10
                while r.running.hub.streams > 4 and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert accepted(three, account)  # the freed place is free again
        finally:
            for channel, stream in opened:
                stream.cancel()  # type: ignore[attr-defined]
                channel.close()


def test_a_reader_that_falls_behind_is_cut_off_and_others_get_everything(
    sqlite_url: str,
) -> None:
    limits = StreamLimits(backlog=300, write_stall=2.0)
    with rig(sqlite_url, limits) as r:
        start = r.service.last_event_id()
        target = r.running.target
        # A client that does not read: its transport fills, then a write waits too long or its
        # queue grows too long, and it is cut off. How many events the transports buffer before
        # that depends on the machine, so events are produced in rounds until the cut happens.
        slow_channel, slow = subscribe(target, after=start, options=SMALL_WINDOW)
        fast_channel, fast = subscribe(target, after=start)
        got: list[int] = []

        def read_fast() -> None:
            with contextlib.suppress(grpc.RpcError):  # cancelled at the end of the test
                for event in fast:
                    got.append(event.event_id)

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        hub = r.running.hub

        def live() -> bool:
            return len([s for s in hub.subscriptions() if s.live]) == 2

        def cut() -> bool:
            subs = hub.subscriptions()
            return len(subs) < 2 or any(s.too_slow for s in subs)

        deadline = time.monotonic() + 20
        while not live() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert live()
        accounts = [SigningKey.generate().address for _ in range(8)]
        events = 0
        while not cut() and events < 5000:
            for _ in range(500):
                r.credit(accounts[events % 8])
                events += 1
            deadline = time.monotonic() + limits.write_stall + 3
            while not cut() and time.monotonic() < deadline:
                time.sleep(0.05)
        assert cut(), "the reader that never reads was not cut off"
        deadline = time.monotonic() + 30
        while len(got) < events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == list(range(start + 1, start + events + 1))

        received = []
        with pytest.raises(grpc.RpcError) as cut_off:
            for event in slow:
                received.append(event.event_id)
        assert cut_off.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (
            len(received),
            [(s.sent, s.offered, len(s.queue), s.too_slow) for s in hub.subscriptions()],
        )
        assert reason_of(cut_off.value) == SLOW_CONSUMER
        assert received == list(range(start + 1, start + len(received) + 1))
        assert len(received) < events
        # Subscribing again after the last event received gives exactly the rest.
        again_channel, again = subscribe(target, after=received[-1])
        rest = [next(again).event_id for _ in range(events - len(received))]
        assert rest == list(range(received[-1] + 1, start + events + 1))
        for channel, stream in ((slow_channel, slow), (fast_channel, fast), (again_channel, again)):
            stream.cancel()  # type: ignore[attr-defined]
            channel.close()
        reader.join(10)


def test_streams_filtered_on_idle_accounts_are_never_offered_an_event(sqlite_url: str) -> None:
    limits = StreamLimits(max_per_client=100)
    idle = [SigningKey.generate().address for _ in range(50)]
    busy = [SigningKey.generate().address for _ in range(4)]
    with rig(sqlite_url, limits) as r:
        target = r.running.target
        streams = [subscribe(target, account) for account in idle]
        hub = r.running.hub

        def live() -> int:  # past their catch-up from the database: events are offered now
            return len([s for s in hub.subscriptions() if s.live])

        deadline = time.monotonic() + 20
        while live() < len(idle) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hub.streams == live() == len(idle)
        for i in range(100):
            r.credit(busy[i % 4])
        r.credit(idle[7])  # the one event that names an idle account
        first = next(streams[7][1])
        assert first.accounts == [idle[7]]
        offered = {sub.account: sub.offered for sub in r.running.hub.subscriptions()}
        assert offered.pop(idle[7]) == 1
        assert set(offered.values()) == {0}
        for channel, stream in streams:
            stream.cancel()  # type: ignore[attr-defined]
            channel.close()
