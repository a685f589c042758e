"""The exposure gate's rules, driven block by block without libtorrent traffic."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from client_sdk.torrent.gate import Endpoint, ExposureGate
from client_sdk.torrent.session import BLOCK_SIZE, Geometry

pytestmark = pytest.mark.timeout(10)

IH = "ab" * 20
IP = "127.0.0.9"
EP: Endpoint = (IP, 50000)
BLOCKS = 4
PIECE = BLOCKS * BLOCK_SIZE
GEO = Geometry(piece_length=PIECE, total_size=10 * PIECE, num_pieces=10)


class FakeClasses:
    def __init__(self) -> None:
        self.limits: dict[str, int] = {}

    def assign(self, ip: str) -> int:
        self.limits.setdefault(ip, 0)
        return 5

    def set_upload_limit(self, ip: str, limit: int) -> None:
        self.limits[ip] = limit


class Rig:
    def __init__(self, window: int = PIECE, inflight: int = PIECE) -> None:
        self.classes = FakeClasses()
        self.sent: dict[Endpoint, int] = {}
        self.gate = ExposureGate(
            self.classes,  # type: ignore[arg-type]
            lambda ih: dict(self.sent),
            window=window,
            inflight=inflight,
        )
        self.gate.add_torrent(IH, GEO)
        self.gate.gate(IP)

    def deliver(self, piece: int, blocks: range = range(BLOCKS)) -> None:
        for b in blocks:
            self.gate.on_delivered(IP, IH, piece, b, BLOCK_SIZE, None, EP)

    @property
    def throttled(self) -> bool:
        assert self.gate.is_throttled(IP) == (self.classes.limits[IP] > 0)
        return self.gate.is_throttled(IP)


def test_one_unpaid_piece_plus_one_in_flight_is_served() -> None:
    rig = Rig()
    rig.deliver(0)  # one whole unpaid piece: within W
    rig.deliver(1, range(BLOCKS - 1))  # and a partial one: within F
    assert not rig.throttled
    rig.deliver(1, range(BLOCKS - 1, BLOCKS))  # a second whole unpaid piece: over W
    assert rig.throttled
    acct = rig.gate.account(IP, IH)
    assert acct is not None and acct.peak_unpaid_complete == 2 * PIECE
    rig.gate.credit(IP, IH, PIECE)
    assert not rig.throttled


def test_partial_pieces_are_capped_at_window_plus_inflight() -> None:
    rig = Rig()
    # A payer that asks for all but one block of every piece never completes one.
    for piece in range(3):
        rig.deliver(piece, range(BLOCKS - 1))
        if rig.throttled:
            break
    acct = rig.gate.account(IP, IH)
    assert acct is not None and acct.complete == 0
    assert rig.throttled and acct.delivered == 2 * PIECE + BLOCK_SIZE  # first byte over W + F


def test_drain_release_when_payer_holds_nothing_it_can_pay_for() -> None:
    rig = Rig()
    # Blocks of two pieces interleave in the send buffer (as seen on loopback).
    for b in range(BLOCKS):
        rig.deliver(0, range(b, b + 1))
        rig.deliver(1, range(b, b + 1))
    assert rig.throttled
    # 1.5 pieces reached the payer, yet neither piece is whole: it cannot pay, so holding back
    # the last block of each would deadlock it.
    rig.sent[EP] = 2 * (BLOCKS - 1) * BLOCK_SIZE
    rig.gate.tick()
    acct = rig.gate.account(IP, IH)
    assert acct is not None and acct.sent_complete == 0 and acct.sent == 6 * BLOCK_SIZE
    assert not rig.throttled and rig.gate.drain_releases == 1
    # The next block queued re-throttles: whole unpaid pieces are still over W.
    rig.deliver(2, range(1))
    assert rig.throttled


def test_no_drain_while_payer_holds_an_unpaid_whole_piece() -> None:
    rig = Rig()
    rig.deliver(0)
    rig.deliver(1)
    rig.sent[EP] = PIECE + BLOCK_SIZE  # piece 0 fully received and not paid for
    rig.gate.tick()
    assert rig.throttled and rig.gate.drain_releases == 0
    rig.gate.credit(IP, IH, PIECE)
    assert not rig.throttled


def test_no_drain_for_more_than_window_plus_inflight_of_partial_data() -> None:
    rig = Rig()
    for piece in range(3):  # never completes a piece: partial data only
        rig.deliver(piece, range(BLOCKS - 1))
    assert rig.throttled
    rig.sent[EP] = 2 * PIECE + BLOCK_SIZE  # all of it reached the payer: over W + F
    rig.gate.tick()
    assert rig.throttled and rig.gate.drain_releases == 0


def test_credit_is_cumulative_and_monotonic() -> None:
    rig = Rig()
    rig.deliver(0)
    rig.deliver(1)
    rig.gate.credit(IP, IH, 2 * PIECE)
    rig.gate.credit(IP, IH, PIECE)  # stale, out-of-order update
    acct = rig.gate.account(IP, IH)
    assert acct is not None and acct.paid == 2 * PIECE
    assert not rig.throttled
    with pytest.raises(ValueError):
        rig.gate.credit(IP, IH, -1)


class GateMachine(RuleBasedStateMachine):
    """Any interleaving of deliveries (pieces interleaved in the queue), payments and socket
    progress, with libtorrent's two limits modelled: no block is queued while the send buffer
    holds its watermark (F/2), and a throttled payer's socket gets nothing. The payer then never
    holds more than the documented bound unpaid (gate.py, with no alert-thread lag):
    W + F + the send buffer's watermark + one block."""

    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig()
        self.next_block: dict[int, int] = {}
        self.delivered = 0
        self.paid = 0

    @property
    def sent(self) -> int:
        return self.rig.sent.get(EP, 0)

    @rule(piece=st.integers(0, 9))
    def deliver(self, piece: int) -> None:
        block = self.next_block.get(piece, 0)
        if block >= BLOCKS or self.delivered - self.sent >= self.rig.gate.inflight // 2:
            return
        self.next_block[piece] = block + 1
        self.rig.deliver(piece, range(block, block + 1))
        self.delivered += BLOCK_SIZE

    @rule(blocks=st.integers(0, 4))
    def pay(self, blocks: int) -> None:
        # An honest payer pays for whole pieces it holds, never beyond them.
        acct = self.rig.gate.account(IP, IH)
        if acct is None:
            return
        self.paid = max(self.paid, min(acct.sent_complete, self.paid + blocks * BLOCK_SIZE))
        self.rig.gate.credit(IP, IH, self.paid)

    @rule(nbytes=st.integers(0, 3 * BLOCK_SIZE))
    def send(self, nbytes: int) -> None:
        if not self.rig.throttled:
            self.rig.sent[EP] = min(self.delivered, self.sent + nbytes)
        self.rig.gate.tick()

    @invariant()
    def payer_holds_at_most_the_bound(self) -> None:
        gate = self.rig.gate
        bound = gate.window + gate.inflight + gate.inflight // 2 + BLOCK_SIZE
        assert self.sent - self.paid <= bound


test_gate_machine = GateMachine.TestCase
test_gate_machine.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
