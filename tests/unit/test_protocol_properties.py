"""Random operation sequences against the pure protocol, checked against a tiny money model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import hypothesis.strategies as st
from google.protobuf.message import Message
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SigningKey
from core.envelopes import open_signed, sign
from core.rejections import Rejected, Rejection
from core.signing import SignedBy, derive_channel_id
from core.status import ChannelStatus, SettleReason
from core.types import Amount, Nonce, Timestamp
from ledger import protocol
from ledger.domain import Account, Channel
from ledger.protocol import Bucket, ChannelTransition, Movement, Refund, StateProof

LEDGER = "prop-ledger"
KEYS = [SigningKey.from_bytes(bytes([b]) * 32) for b in (0x11, 0x22, 0x33)]
BY_ADDRESS = {k.address: k for k in KEYS}
ADDRESSES = [k.address for k in KEYS]
START_BALANCE = 50_000
TOTAL = START_BALANCE * len(KEYS)
SETTLED = ChannelStatus.SETTLED
T0 = 1_700_000_000
WINDOW = 300


def _proof(key: SigningKey, payload: Message) -> SignedBy:
    return open_signed(LEDGER, sign(key, LEDGER, payload), type(payload), "p").proof


def _refund(key: SigningKey, channel_id: bytes, expiry: int, version: int) -> Refund:
    payload = pb.RefundPayload(channel_id=channel_id, expiry=expiry, version=version)
    return Refund(channel_id, expiry, version, _proof(key, payload))


@dataclasses.dataclass(frozen=True)
class Issued:
    nonce: int
    cumulative: int
    proof: SignedBy


class ChannelMachine(RuleBasedStateMachine):
    """Up to a few channels among three accounts; every accepted transition moves money."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.balances: dict[Bucket, int] = {}
        self.accounts: dict[str, Account] = {}
        self.channels: dict[bytes, Channel] = {}
        self.refunds: dict[bytes, list[Refund]] = {}
        self.issued: dict[bytes, list[Issued]] = {}
        self.floor: dict[bytes, int] = {}
        self.last_best: dict[bytes, tuple[int, int]] = {}
        self.frozen: dict[bytes, Channel] = {}
        self.accepted = 0
        self.rejected: dict[Rejection, int] = {}

    @initialize(lifetimes=st.tuples(st.integers(1, 4_000), st.integers(1, 4_000)))
    def fund(self, lifetimes: tuple[int, int]) -> None:
        for address in ADDRESSES:
            self.accounts[address] = Account(address, Amount(START_BALANCE), Nonce(0))
            self.balances[Bucket.account(address)] = START_BALANCE
        self.open(payer=0, payee_offset=1, deposit=20_000, lifetime=lifetimes[0], salt=0)
        self.open(payer=1, payee_offset=1, deposit=10_000, lifetime=lifetimes[1], salt=0)
        assert len(self.channels) == 2

    # ------------------------------------------------------------ model plumbing

    def _move(self, movements: tuple[Movement, ...] | list[Movement]) -> None:
        for m in movements:
            assert m.amount > 0
            assert self.balances.get(m.source, 0) >= m.amount, m
            self.balances[m.source] -= m.amount
            self.balances[m.target] = self.balances.get(m.target, 0) + m.amount
        for address, account in self.accounts.items():
            self.accounts[address] = dataclasses.replace(
                account, balance=Amount(self.balances[Bucket.account(address)])
            )

    def _attempt(self, call: Callable[[], ChannelTransition | None]) -> ChannelTransition | None:
        channels = dict(self.channels)
        snapshots = {cid: dataclasses.replace(ch) for cid, ch in channels.items()}
        accounts = dict(self.accounts)
        try:
            t = call()
        except Rejected as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            assert self.channels == channels
            assert self.accounts == accounts
            assert all(channels[cid] == snap for cid, snap in snapshots.items())
            return None
        if t is None:
            return None
        if t.before is not None:
            stored = snapshots[t.before.channel_id]
            assert channels[t.before.channel_id] == stored
            assert t.before.status is stored.status
            assert t.before.deposit == stored.deposit
        self._move(t.movements)
        self.channels[t.after.channel_id] = t.after
        self.accepted += 1
        return t

    def _pick(self, data: st.DataObject) -> Channel:
        """Mostly a live channel (that is where things happen), sometimes any channel."""
        live = sorted(c for c, ch in self.channels.items() if ch.status is not SETTLED)
        pool = live if live and data.draw(st.integers(0, 9), label="live?") else None
        cid = data.draw(st.sampled_from(pool or sorted(self.channels)), label="channel")
        return self.channels[cid]

    # ------------------------------------------------------------ rules

    @precondition(lambda self: len(self.channels) < 6)
    @rule(
        payer=st.integers(0, 2),
        payee_offset=st.sampled_from([1, 2, 1, 2, 0]),
        deposit=st.one_of(st.integers(1, 30_000), st.sampled_from([-1, 0, START_BALANCE + 1])),
        lifetime=st.one_of(st.integers(1, 4_000), st.just(0)),
        salt=st.integers(0, 3),
    )
    def open(self, payer: int, payee_offset: int, deposit: int, lifetime: int, salt: int) -> None:
        payer_key, payee_key = KEYS[payer], KEYS[(payer + payee_offset) % len(KEYS)]
        cid = derive_channel_id(LEDGER, payer_key.address, payee_key.address, salt)
        expiry = self.now + lifetime
        commitment = _proof(
            payer_key,
            pb.OpenChannelPayload(
                payer=payer_key.address,
                payee=payee_key.address,
                deposit=max(deposit, 0),
                expiry=expiry,
                salt=salt,
                channel_id=cid,
            ),
        )
        refund = _refund(payee_key, cid, expiry, 0)
        t = self._attempt(
            lambda: protocol.open_channel(
                ledger_id=LEDGER,
                existing=self.channels.get(cid),
                payer=self.accounts[payer_key.address],
                payee=payee_key.address,
                deposit=deposit,
                expiry=expiry,
                salt=salt,
                channel_id=cid,
                commitment=commitment,
                refund=refund,
                now=Timestamp(self.now),
            )
        )
        if t is not None:
            self.refunds[cid] = [refund]
            self.issued[cid] = []
            self.floor[cid] = 0

    @precondition(lambda self: self.channels)
    @rule(
        data=st.data(),
        nonce_step=st.integers(-2, 3),
        bump=st.one_of(st.integers(-50, 3_000), st.integers(-5, 25_000)),
    )
    def pay(self, data: st.DataObject, nonce_step: int, bump: int) -> None:
        """The payer signs a state off-ledger and hands it to the payee; nothing moves.

        Mostly the next state; sometimes an older nonce or a smaller amount (a cheating payer).
        """
        ch = self._pick(data)
        issued = self.issued[ch.channel_id]
        last_nonce = issued[-1].nonce if issued else 0
        nonce = max(last_nonce + nonce_step, 0)
        previous = issued[-1].cumulative if issued else 0
        cumulative = max(previous + bump, 0)
        key = BY_ADDRESS[ch.payer]
        payload = pb.ChannelStatePayload(
            channel_id=ch.channel_id, nonce=nonce, cumulative=cumulative
        )
        self.issued[ch.channel_id].append(Issued(nonce, cumulative, _proof(key, payload)))

    @precondition(lambda self: any(self.issued.values()))
    @rule(data=st.data())
    def submit(self, data: st.DataObject) -> None:
        with_states = sorted(c for c, i in self.issued.items() if i)
        live = [c for c in with_states if self.channels[c].status is not SETTLED]
        pool = live if live and data.draw(st.integers(0, 9), label="live?") else with_states
        cid = data.draw(st.sampled_from(pool), label="channel")
        recent = self.issued[cid][-3:]
        self._submit(cid, data.draw(st.sampled_from(recent + self.issued[cid]), label="state"))

    @precondition(lambda self: self.channels)
    @rule(
        data=st.data(),
        nonce_step=st.integers(-2, 3),
        bump=st.integers(-50, 3_000),
    )
    def pay_and_submit(self, data: st.DataObject, nonce_step: int, bump: int) -> None:
        """The payee checkpoints what it was just paid."""
        before = {cid: len(issued) for cid, issued in self.issued.items()}
        self.pay(data, nonce_step, bump)
        (cid,) = [cid for cid, issued in self.issued.items() if len(issued) != before[cid]]
        self._submit(cid, self.issued[cid][-1])

    def _submit(self, cid: bytes, state: Issued) -> None:
        ch = self.channels[cid]
        t = self._attempt(
            lambda: protocol.submit_state(
                ch, state.nonce, state.cumulative, state.proof, Timestamp(self.now)
            )
        )
        if t is not None:
            assert (t.after.best_nonce, t.after.best_cumulative) == (state.nonce, state.cumulative)

    @precondition(lambda self: self.channels)
    @rule(
        data=st.data(),
        additional=st.integers(0, 20_000),
        extend=st.integers(-10, 2_000),
        sequence_offset=st.sampled_from([1, 1, 1, 0, 2]),
        with_refund=st.booleans(),
    )
    def top_up(
        self,
        data: st.DataObject,
        additional: int,
        extend: int,
        sequence_offset: int,
        with_refund: bool,
    ) -> None:
        ch = self._pick(data)
        new_expiry = 0 if extend == 0 else ch.expiry + extend
        sequence = ch.topup_sequence + sequence_offset
        payer_key, payee_key = BY_ADDRESS[ch.payer], BY_ADDRESS[ch.payee]
        proof = _proof(
            payer_key,
            pb.TopUpPayload(
                channel_id=ch.channel_id,
                additional_deposit=additional,
                new_expiry=max(new_expiry, 0),
                sequence=sequence,
            ),
        )
        refund = (
            _refund(payee_key, ch.channel_id, new_expiry, sequence)
            if with_refund and new_expiry
            else None
        )
        t = self._attempt(
            lambda: protocol.top_up(
                ch,
                self.accounts[ch.payer],
                additional,
                new_expiry,
                sequence,
                proof,
                refund,
                Timestamp(self.now),
            )
        )
        if t is not None:
            assert t.after.deposit == ch.deposit + additional
            assert t.after.topup_sequence == ch.topup_sequence + 1
            if refund is not None and t.after.expiry != ch.expiry:
                self.refunds[ch.channel_id].append(refund)

    @precondition(lambda self: self.channels)
    @rule(data=st.data())
    def request_close(self, data: st.DataObject) -> None:
        ch = self._pick(data)
        proof = _proof(BY_ADDRESS[ch.payer], pb.RequestClosePayload(channel_id=ch.channel_id))
        self._attempt(lambda: protocol.request_close(ch, proof, Timestamp(self.now), WINDOW))

    @precondition(lambda self: self.channels)
    @rule(data=st.data(), use_state=st.booleans())
    def payee_close(self, data: st.DataObject, use_state: bool) -> None:
        ch = self._pick(data)
        issued = self.issued[ch.channel_id]
        state: StateProof | None = None
        if use_state and issued:
            pick = data.draw(st.sampled_from(issued), label="close state")
            state = StateProof(pick.nonce, pick.cumulative, pick.proof)
            nonce, cumulative = pick.nonce, pick.cumulative
        else:
            nonce, cumulative = ch.best_nonce, ch.best_cumulative
        close = _proof(
            BY_ADDRESS[ch.payee],
            pb.CloseChannelPayload(channel_id=ch.channel_id, nonce=nonce, cumulative=cumulative),
        )
        self._attempt(
            lambda: protocol.payee_close(ch, state, nonce, cumulative, close, Timestamp(self.now))
        )

    @precondition(lambda self: self.channels)
    @rule(data=st.data(), cumulative=st.integers(0, 60_000))
    def cooperative_close(self, data: st.DataObject, cumulative: int) -> None:
        ch = self._pick(data)
        payload = pb.CooperativeClosePayload(channel_id=ch.channel_id, cumulative=cumulative)
        a = _proof(BY_ADDRESS[ch.payer], payload)
        b = _proof(BY_ADDRESS[ch.payee], payload)
        t = self._attempt(
            lambda: protocol.cooperative_close(ch, cumulative, a, b, Timestamp(self.now))
        )
        if t is not None:
            assert t.after.paid_to_payee == cumulative

    @precondition(lambda self: self.channels)
    @rule(data=st.data(), latest=st.booleans())
    def claim_refund(self, data: st.DataObject, latest: bool) -> None:
        ch = self._pick(data)
        refunds = self.refunds[ch.channel_id]
        refund = refunds[-1] if latest else data.draw(st.sampled_from(refunds), label="refund")
        claim = _proof(BY_ADDRESS[ch.payer], pb.ClaimRefundPayload(channel_id=ch.channel_id))
        t = self._attempt(lambda: protocol.claim_refund(ch, claim, refund, Timestamp(self.now)))
        if t is not None:
            assert self.now >= ch.expiry
            assert t.after.paid_to_payee == ch.best_cumulative

    @rule(
        sender=st.integers(0, 2),
        recipient_offset=st.sampled_from([1, 2, 1, 2, 0]),
        amount=st.integers(0, 30_000),
        nonce_step=st.integers(-1, 3),
    )
    def transfer(self, sender: int, recipient_offset: int, amount: int, nonce_step: int) -> None:
        key, to = KEYS[sender], ADDRESSES[(sender + recipient_offset) % len(KEYS)]
        account = self.accounts[key.address]
        nonce = max(account.nonce + nonce_step, 0)
        proof = _proof(
            key,
            pb.TransferPayload(from_account=key.address, to_account=to, amount=amount, nonce=nonce),
        )
        before = dict(self.accounts)
        try:
            m = protocol.transfer(account, to, amount, nonce, proof)
        except Rejected as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            assert self.accounts == before
            return
        assert nonce > account.nonce
        self._move([m])
        self.accounts[key.address] = dataclasses.replace(
            self.accounts[key.address], nonce=Nonce(nonce)
        )

    @rule(seconds=st.sampled_from([1, 10, 100, 299, 300, 1_000, 3_000]))
    def advance(self, seconds: int) -> None:
        self.now += seconds

    @precondition(lambda self: any(ch.status is not SETTLED for ch in self.channels.values()))
    @rule(data=st.data(), offset=st.integers(-1, 1))
    def advance_to_due(self, data: st.DataObject, offset: int) -> None:
        """Jump to just around a channel's expiry or challenge deadline: where the edges are."""
        live = [ch for ch in self.channels.values() if ch.status is not SETTLED]
        ch = data.draw(st.sampled_from(live), label="due channel")
        due = protocol.due_at(ch)
        assert due is not None
        self.now = max(self.now, due + offset)

    @precondition(
        lambda self: any(ch.status is ChannelStatus.CLOSING for ch in self.channels.values())
    )
    @rule(data=st.data())
    def wait_out_the_challenge(self, data: st.DataObject) -> None:
        """Nobody answers a close request: time runs to the deadline and the sweeper acts."""
        closing = sorted(c for c, ch in self.channels.items() if ch.status is ChannelStatus.CLOSING)
        ch = self.channels[data.draw(st.sampled_from(closing), label="closing channel")]
        due = protocol.due_at(ch)
        assert due is not None
        self.now = max(self.now, due)
        self.sweep()
        assert self.channels[ch.channel_id].status is SETTLED

    @rule()
    def sweep(self) -> None:
        for cid in sorted(self.channels):
            ch = self.channels[cid]
            due = protocol.due_at(ch)
            t = self._attempt(lambda ch=ch: protocol.settle_due(ch, Timestamp(self.now)))
            if t is None:
                assert due is None or self.now < due
            else:
                assert due is not None and self.now >= due

    # ------------------------------------------------------------ invariants

    @invariant()
    def money_is_conserved(self) -> None:
        assert sum(self.balances.values()) == TOTAL
        assert all(v >= 0 for v in self.balances.values())
        for cid, ch in self.channels.items():
            assert self.balances.get(Bucket.escrow(cid), 0) == ch.escrow
        for address, account in self.accounts.items():
            assert account.balance == self.balances[Bucket.account(address)]

    @invariant()
    def best_state_only_moves_forward(self) -> None:
        for cid, ch in self.channels.items():
            nonce, cumulative = self.last_best.get(cid, (0, 0))
            assert ch.best_nonce >= nonce
            assert ch.best_cumulative >= cumulative
            assert ch.best_cumulative <= ch.deposit
            self.last_best[cid] = (ch.best_nonce, ch.best_cumulative)

    @invariant()
    def checkpoints_are_always_paid(self) -> None:
        for cid, ch in self.channels.items():
            if ch.status is SETTLED:
                assert ch.paid_to_payee >= self.floor[cid]
                assert ch.paid_to_payee + ch.refunded_to_payer == ch.deposit
            else:
                self.floor[cid] = max(self.floor[cid], ch.best_cumulative)

    @invariant()
    def settled_channels_never_change(self) -> None:
        for cid, ch in self.channels.items():
            if cid in self.frozen:
                assert ch == self.frozen[cid]
            elif ch.status is SETTLED:
                self.frozen[cid] = ch

    @invariant()
    def channels_are_sane(self) -> None:
        for ch in self.channels.values():
            protocol.sanity_check(ch)
            if ch.status is ChannelStatus.CLOSING:
                assert ch.close_deadline > 0


MACHINE_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_operation_sequences_keep_the_invariants() -> None:
    """Runs the machine (any invariant failure is shrunk and raised), then checks the walk was
    not vacuous: channels settled every way and the interesting rejections were reached."""
    reasons: set[SettleReason] = set()
    rejections: set[Rejection] = set()
    accepted: list[int] = []

    class Recording(ChannelMachine):
        def teardown(self) -> None:
            reasons.update(
                ch.settle_reason for ch in self.channels.values() if ch.settle_reason is not None
            )
            rejections.update(self.rejected)
            accepted.append(self.accepted)

    run_state_machine_as_test(Recording, settings=MACHINE_SETTINGS)
    assert reasons == set(SettleReason)
    assert {
        Rejection.STALE_STATE,
        Rejection.CHANNEL_EXPIRED,
        Rejection.NOT_YET_EXPIRED,
        Rejection.CHANNEL_SETTLED,
        Rejection.NONCE_REUSED,
        Rejection.INVALID_NONCE,
    } <= rejections
    assert sum(accepted) > 3 * len(accepted)
