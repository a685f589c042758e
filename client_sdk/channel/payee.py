"""The payee's rules for one channel: verify each payment update against the channel and what
was delivered. Pure decisions over an in-memory record; `PayeeBook` makes them durable.
"""

from __future__ import annotations

from dataclasses import dataclass

from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel.errors import PayeeReason
from client_sdk.channel.states import SignedState, StateVerifier
from client_sdk.channel.store import PayeeRecord
from core.rejections import Rejection
from core.status import ChannelStatus
from core.types import INT64_MAX, MAX_AMOUNT


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When to checkpoint the best state on the ledger; any met condition triggers one.

    0 turns a condition off. A checkpoint bounds what a payee restart or a lost disk could cost.
    """

    every_updates: int = 1000
    every_seconds: int = 300
    value_delta: int = 0

    def due(self, updates: int, seconds: int, value: int) -> bool:
        if updates <= 0:
            return False
        return (
            (self.every_updates > 0 and updates >= self.every_updates)
            or (self.every_seconds > 0 and seconds >= self.every_seconds)
            or (self.value_delta > 0 and value >= self.value_delta)
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one update: the record to keep (None: unchanged) and the receipt."""

    record: PayeeRecord | None
    reason: PayeeReason | None
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.record is not None

    @property
    def failure(self) -> bool:
        """Counts against the payer (a duplicate after a reconnect does not)."""
        return self.reason is not None and self.reason is not PayeeReason.DUPLICATE


_SIGNATURE_REASONS = {
    Rejection.BAD_SIGNATURE: PayeeReason.BAD_SIGNATURE,
    Rejection.WRONG_SIGNER: PayeeReason.WRONG_SIGNER,
}


class PayeeChannel:
    """One incoming channel as its payee sees it."""

    def __init__(self, record: PayeeRecord, ledger_id: str, credit_pieces: int = 1) -> None:
        self.record = record
        self.credit_pieces = credit_pieces
        self._verifier = StateVerifier(ledger_id, record.payer)
        # checkpoint bookkeeping (in memory: after a restart the next checkpoint comes sooner)
        self.updates_since_checkpoint = 0
        self.checkpoint_value = record.best_cumulative if record.checkpoint_nonce else 0
        self.checkpoint_at = 0

    @property
    def channel_id(self) -> bytes:
        return self.record.channel_id

    @property
    def payer(self) -> str:
        return self.record.payer

    @property
    def best(self) -> SignedState | None:
        return self.record.best_state()

    @property
    def is_open(self) -> bool:
        return self.record.status is ChannelStatus.OPEN

    @property
    def required(self) -> int:
        """The least cumulative that keeps the payer within its credit."""
        return max(0, self.record.owed - self.credit_pieces * self.record.rate)

    def delivered(self, pieces: int = 1) -> int:
        """The seeder delivered `pieces` more at the current rate; returns the value owed."""
        if pieces < 0:
            raise ValueError("pieces must be >= 0")
        self.record = self.record.with_(owed=self.record.owed + pieces * self.record.rate)
        return self.record.owed

    @property
    def unpaid(self) -> int:
        return max(0, self.record.owed - self.record.best_cumulative)

    def evaluate(self, state: SignedState, current: PayeeRecord | None = None) -> Verdict:
        """Decide on `state` against `current` (default: the committed record)."""
        r = current or self.record
        if r.status is not ChannelStatus.OPEN:
            return Verdict(None, PayeeReason.CHANNEL_NOT_OPEN, f"channel is {r.status.label()}")
        if not 0 < state.nonce <= INT64_MAX:
            return Verdict(None, PayeeReason.INVALID_NONCE, "nonce must be a positive int64")
        if not 0 <= state.cumulative <= MAX_AMOUNT:
            return Verdict(None, PayeeReason.INVALID_AMOUNT, "cumulative out of range")
        if (state.nonce, state.cumulative, state.signature) == (
            r.best_nonce,
            r.best_cumulative,
            r.best_signature,
        ):
            return Verdict(None, PayeeReason.DUPLICATE, "already the best state")
        if state.nonce <= r.best_nonce:
            return Verdict(
                None, PayeeReason.STALE_STATE, f"nonce {state.nonce} <= best {r.best_nonce}"
            )
        if state.cumulative < r.best_cumulative:
            return Verdict(
                None,
                PayeeReason.CUMULATIVE_DECREASED,
                f"cumulative {state.cumulative} < best {r.best_cumulative}",
            )
        if state.cumulative > r.deposit:
            return Verdict(
                None, PayeeReason.EXCEEDS_DEPOSIT, f"cumulative exceeds deposit {r.deposit}"
            )
        bad = self._verifier.check(state)
        if bad is not None:
            return Verdict(None, _SIGNATURE_REASONS[bad], "state is not signed by the payer")
        better = r.with_best(state.nonce, state.cumulative, state.signature)
        if state.cumulative < self.required:
            # Still better for us than what we held, so keep it; the seeder stops serving.
            return Verdict(better, PayeeReason.UNDERPAID, f"owed {r.owed}, credit exceeded")
        return Verdict(better, None)

    def receipt(self, state: SignedState, verdict: Verdict) -> ppb.PaymentReceipt:
        best = verdict.record or self.record
        return ppb.PaymentReceipt(
            channel_id=state.channel_id,
            nonce=state.nonce,
            accepted=verdict.accepted,
            best_nonce=best.best_nonce,
            best_cumulative=best.best_cumulative,
            reason=verdict.reason.value if verdict.reason else "",
            message=verdict.message,
            owed=best.owed,
        )
