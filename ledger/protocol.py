"""The channel and account protocol: pure decisions, no I/O.

Each function takes the current state and a signed command and returns the new state plus the
money movements it implies, or raises `Rejected` with a stable reason (and nothing changes).
The service layer loads state under row locks, calls one of these, and commits the result.

Channel lifecycle (whitepaper T1/T2/T3, on a ledger):
  open      payer's commitment (T1) + payee's time-locked refund (T2) -> escrow locked
  pay       payer-signed (nonce, cumulative) states (T3) travel payer -> payee; the ledger only
            keeps the best one a payee checkpoints
  settle    payee close (before expiry) | cooperative close | payer refund (after expiry, the
            best checkpoint still honoured) | payer close request + challenge window | sweep
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from core.crypto import check_address
from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.status import ChannelStatus, EventKind, SettleReason, WithdrawalStatus
from core.terms import (
    MAX_CHANNEL_LIFETIME,
    OpenTerms,
    check_expiry,
    check_open_terms,
    refund_covers,
)
from core.types import (
    INT64_MAX,
    MAX_AMOUNT,
    Amount,
    ChannelId,
    Nonce,
    Timestamp,
    check_amount,
)
from ledger.checks import check_id as check_id
from ledger.checks import check_index as check_index
from ledger.checks import check_supply as check_supply
from ledger.checks import check_text as check_text
from ledger.checks import credit as credit
from ledger.checks import require_signer as require_signer
from ledger.domain import Account, Channel, Withdrawal


class Op(enum.Enum):
    OPEN = "open"
    SUBMIT_STATE = "submit_state"
    TOP_UP = "top_up"
    REQUEST_CLOSE = "request_close"
    PAYEE_CLOSE = "payee_close"
    COOPERATIVE_CLOSE = "cooperative_close"
    REFUND = "refund"
    SETTLE_DUE = "settle_due"


_OPEN, _CLOSING, _SETTLED = ChannelStatus.OPEN, ChannelStatus.CLOSING, ChannelStatus.SETTLED

# The only lifecycle moves there are: (from, to) -> the operations that may make them.
TRANSITIONS: dict[tuple[ChannelStatus | None, ChannelStatus], frozenset[Op]] = {
    (None, _OPEN): frozenset({Op.OPEN}),
    (_OPEN, _OPEN): frozenset({Op.SUBMIT_STATE, Op.TOP_UP}),
    (_OPEN, _CLOSING): frozenset({Op.REQUEST_CLOSE}),
    (_OPEN, _SETTLED): frozenset({Op.PAYEE_CLOSE, Op.COOPERATIVE_CLOSE, Op.REFUND, Op.SETTLE_DUE}),
    (_CLOSING, _CLOSING): frozenset({Op.SUBMIT_STATE}),
    (_CLOSING, _SETTLED): frozenset(
        {Op.PAYEE_CLOSE, Op.COOPERATIVE_CLOSE, Op.REFUND, Op.SETTLE_DUE}
    ),
}


# ---------------------------------------------------------------- money movements


@dataclass(frozen=True, slots=True)
class Bucket:
    """A place money sits. Liabilities: account, escrow, pending. Outside: deposits/withdrawals."""

    kind: str  # "account" | "escrow" | "pending" | "chain"
    key: str

    @staticmethod
    def account(account_id: str) -> Bucket:
        return Bucket("account", account_id)

    @staticmethod
    def escrow(channel_id: bytes) -> Bucket:
        return Bucket("escrow", channel_id.hex())

    @staticmethod
    def pending(withdrawal_id: int) -> Bucket:
        return Bucket("pending", str(withdrawal_id))


CHAIN_DEPOSITS = Bucket("chain", "deposits")
CHAIN_WITHDRAWALS = Bucket("chain", "withdrawals")


@dataclass(frozen=True, slots=True)
class Movement:
    """One double-entry journal entry: `amount` leaves `source` and arrives in `target`."""

    source: Bucket
    target: Bucket
    amount: Amount


@dataclass(frozen=True, slots=True)
class ChannelTransition:
    before: Channel | None
    after: Channel
    op: Op
    movements: tuple[Movement, ...] = ()


def _check_transition(before: Channel | None, after: Channel, op: Op) -> ChannelTransition:
    key = (before.status if before else None, after.status)
    if op not in TRANSITIONS.get(key, frozenset()):
        raise InvariantBroken(f"illegal transition {key} by {op}")
    sanity_check(after)
    return ChannelTransition(before, after, op)


class InvariantBroken(AssertionError):
    """A transition produced an impossible state: a bug, never a user error."""


def sanity_check(channel: Channel) -> None:
    """Invariants that hold after every transition (checked even under `python -O`)."""
    ok = 0 < channel.deposit <= MAX_AMOUNT and 0 <= channel.best_cumulative <= channel.deposit
    if channel.status is _SETTLED:
        ok = ok and (
            channel.paid_to_payee + channel.refunded_to_payer == channel.deposit
            and channel.paid_to_payee >= channel.best_cumulative
            and channel.settle_reason is not None
        )
    else:
        ok = ok and channel.paid_to_payee == 0 and channel.refunded_to_payer == 0
    if not ok:
        raise InvariantBroken(f"channel invariant broken: {channel}")


def _with_movements(t: ChannelTransition, *movements: Movement) -> ChannelTransition:
    return replace(t, movements=tuple(m for m in movements if m.amount > 0))


# ---------------------------------------------------------------- accounts


def transfer(
    sender: Account, recipient_id: str, amount: int, nonce: int, proof: SignedBy
) -> Movement:
    """Validate a signed transfer; the caller records `nonce` as the sender's last used."""
    check_address(recipient_id, "to_account")
    amount = check_amount(amount, "amount")
    if sender.account_id == recipient_id:
        raise Rejected(Rejection.SELF_TRANSFER, "cannot transfer to the same account")
    require_signer(proof, sender.account_id, "transfer")
    check_account_nonce(sender, nonce)
    if sender.balance < amount:
        raise Rejected(
            Rejection.INSUFFICIENT_FUNDS, f"balance {sender.balance} is below amount {amount}"
        )
    return Movement(Bucket.account(sender.account_id), Bucket.account(recipient_id), amount)


def check_account_nonce(account: Account, nonce: int) -> None:
    if not 0 < nonce <= INT64_MAX:
        raise Rejected(Rejection.INVALID_NONCE, "nonce must be a positive signed 64-bit integer")
    if nonce <= account.nonce:
        raise Rejected(
            Rejection.NONCE_REUSED, f"nonce {nonce} is not above the last used {account.nonce}"
        )


# ---------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class Refund:
    """The payee's time-locked refund (T2) as presented."""

    channel_id: bytes
    expiry: int
    version: int
    proof: SignedBy

    @property
    def terms(self) -> tuple[bytes, int, int]:
        return (self.channel_id, self.expiry, self.version)


def open_channel(
    *,
    ledger_id: str,
    existing: Channel | None,
    payer: Account,
    payee: str,
    deposit: int,
    expiry: int,
    salt: int,
    channel_id: bytes,
    commitment: SignedBy,
    refund: Refund,
    now: Timestamp,
) -> ChannelTransition:
    terms = OpenTerms(ledger_id, payer.account_id, payee, deposit, expiry, salt, channel_id)
    deposit = check_open_terms(terms)
    check_expiry(expiry, now)
    if not refund_covers(refund.terms, channel_id, expiry, 0):
        raise Rejected(
            Rejection.REFUND_MISMATCH, "refund must cover this channel, its expiry, version 0"
        )
    require_signer(commitment, payer.account_id, "commitment")
    require_signer(refund.proof, payee, "refund")
    if existing is not None:
        raise Rejected(Rejection.CHANNEL_EXISTS, f"channel {channel_id.hex()} already exists")
    if payer.balance < deposit:
        raise Rejected(
            Rejection.INSUFFICIENT_FUNDS, f"balance {payer.balance} is below deposit {deposit}"
        )
    channel = Channel(
        channel_id=ChannelId(channel_id),
        payer=payer.account_id,
        payee=payee,
        deposit=deposit,
        expiry=Timestamp(expiry),
        status=_OPEN,
        opened_at=now,
        refund_signature=refund.proof.signature,
    )
    t = _check_transition(None, channel, Op.OPEN)
    return _with_movements(
        t, Movement(Bucket.account(payer.account_id), Bucket.escrow(channel_id), deposit)
    )


def _require_live(channel: Channel, now: Timestamp, action: str) -> None:
    """Before expiry, and inside the challenge window when CLOSING."""
    if channel.status is _SETTLED:
        raise Rejected(Rejection.CHANNEL_SETTLED, f"cannot {action}: channel is settled")
    if now >= channel.expiry:
        raise Rejected(Rejection.CHANNEL_EXPIRED, f"cannot {action}: channel expired")
    if channel.status is _CLOSING and now >= channel.close_deadline:
        raise Rejected(Rejection.CHALLENGE_OVER, f"cannot {action}: challenge window is over")


def _better_state(
    channel: Channel, nonce: int, cumulative: int, proof: SignedBy, *, allow_equal: bool
) -> Channel:
    """Accept a payer-signed (nonce, cumulative) that does not go backwards."""
    if not 0 < nonce <= INT64_MAX:
        raise Rejected(
            Rejection.INVALID_NONCE, "state nonce must be a positive signed 64-bit integer"
        )
    check_amount(cumulative, "cumulative", allow_zero=True)
    if cumulative > channel.deposit:
        raise Rejected(
            Rejection.EXCEEDS_DEPOSIT, f"cumulative {cumulative} exceeds deposit {channel.deposit}"
        )
    require_signer(proof, channel.payer, "state")
    if nonce < channel.best_nonce or (nonce == channel.best_nonce and not allow_equal):
        raise Rejected(
            Rejection.STALE_STATE, f"nonce {nonce} is not above the best {channel.best_nonce}"
        )
    if cumulative < channel.best_cumulative or (
        nonce == channel.best_nonce and cumulative != channel.best_cumulative
    ):
        raise Rejected(
            Rejection.CUMULATIVE_DECREASED,
            f"cumulative {cumulative} is below the best {channel.best_cumulative}",
        )
    return replace(
        channel,
        best_nonce=Nonce(nonce),
        best_cumulative=Amount(cumulative),
        best_signature=proof.signature,
    )


def submit_state(
    channel: Channel, nonce: int, cumulative: int, proof: SignedBy, now: Timestamp
) -> ChannelTransition:
    _require_live(channel, now, "submit a state")
    after = _better_state(channel, nonce, cumulative, proof, allow_equal=False)
    return _check_transition(channel, after, Op.SUBMIT_STATE)


def _settle(
    channel: Channel, to_payee: int, reason: SettleReason, now: Timestamp, op: Op
) -> ChannelTransition:
    after = replace(
        channel,
        status=_SETTLED,
        paid_to_payee=Amount(to_payee),
        refunded_to_payer=Amount(channel.deposit - to_payee),
        settle_reason=reason,
        settled_at=now,
    )
    t = _check_transition(channel, after, op)
    escrow = Bucket.escrow(channel.channel_id)
    return _with_movements(
        t,
        Movement(escrow, Bucket.account(channel.payee), after.paid_to_payee),
        Movement(escrow, Bucket.account(channel.payer), after.refunded_to_payer),
    )


@dataclass(frozen=True, slots=True)
class StateProof:
    nonce: int
    cumulative: int
    proof: SignedBy


def payee_close(
    channel: Channel,
    state: StateProof | None,
    close_nonce: int,
    close_cumulative: int,
    close_proof: SignedBy,
    now: Timestamp,
) -> ChannelTransition:
    """The payee settles with the best payer-signed state (its own or the best checkpoint)."""
    _require_live(channel, now, "close")
    require_signer(close_proof, channel.payee, "close")
    closing = channel
    if state is not None:
        if (state.nonce, state.cumulative) != (close_nonce, close_cumulative):
            raise Rejected(Rejection.PAYLOAD_MISMATCH, "close does not name the presented state")
        closing = _better_state(
            channel, state.nonce, state.cumulative, state.proof, allow_equal=True
        )
    elif (close_nonce, close_cumulative) != (channel.best_nonce, channel.best_cumulative):
        raise Rejected(
            Rejection.STALE_STATE, "without a state, close must name the best checkpointed one"
        )
    t = _settle(closing, closing.best_cumulative, SettleReason.PAYEE_CLOSE, now, Op.PAYEE_CLOSE)
    return replace(t, before=channel)


def cooperative_close(
    channel: Channel,
    cumulative: int,
    payer_proof: SignedBy,
    payee_proof: SignedBy,
    now: Timestamp,
) -> ChannelTransition:
    if channel.status is _SETTLED:
        raise Rejected(Rejection.CHANNEL_SETTLED, "channel is already settled")
    check_amount(cumulative, "cumulative", allow_zero=True)
    if cumulative > channel.deposit:
        raise Rejected(Rejection.EXCEEDS_DEPOSIT, "cumulative exceeds the deposit")
    require_signer(payer_proof, channel.payer, "payer close")
    require_signer(payee_proof, channel.payee, "payee close")
    if cumulative < channel.best_cumulative:
        # The payee signed it, so it may forgo a checkpoint; still, never below what it proved
        # without noticing: refuse so the client can re-sign knowingly.
        raise Rejected(
            Rejection.CUMULATIVE_DECREASED, "cooperative close is below the best checkpoint"
        )
    return _settle(channel, cumulative, SettleReason.COOPERATIVE, now, Op.COOPERATIVE_CLOSE)


def request_close(
    channel: Channel, proof: SignedBy, now: Timestamp, challenge_window: int
) -> ChannelTransition:
    if channel.status is not _OPEN:
        raise Rejected(Rejection.CHANNEL_NOT_OPEN, f"channel is {channel.status.value}, not OPEN")
    if now >= channel.expiry:
        raise Rejected(Rejection.CHANNEL_EXPIRED, "channel expired: claim the refund instead")
    require_signer(proof, channel.payer, "close request")
    after = replace(channel, status=_CLOSING, close_deadline=Timestamp(now + challenge_window))
    return _check_transition(channel, after, Op.REQUEST_CLOSE)


def claim_refund(
    channel: Channel, claim: SignedBy, refund: Refund, now: Timestamp
) -> ChannelTransition:
    """After expiry the payer takes the escrow back, less the best checkpointed payment."""
    if channel.status is _SETTLED:
        raise Rejected(Rejection.CHANNEL_SETTLED, "channel is already settled")
    require_signer(claim, channel.payer, "refund claim")
    if refund.channel_id != channel.channel_id or refund.expiry != channel.expiry:
        raise Rejected(Rejection.REFUND_MISMATCH, "refund does not cover this channel's expiry")
    require_signer(refund.proof, channel.payee, "refund")
    if now < channel.expiry:
        raise Rejected(Rejection.NOT_YET_EXPIRED, f"refund is time-locked until {channel.expiry}")
    return _settle(channel, channel.best_cumulative, SettleReason.REFUND, now, Op.REFUND)


def top_up(
    channel: Channel,
    payer: Account,
    additional: int,
    new_expiry: int,
    sequence: int,
    proof: SignedBy,
    refund: Refund | None,
    now: Timestamp,
) -> ChannelTransition:
    if channel.status is not _OPEN:
        raise Rejected(Rejection.CHANNEL_NOT_OPEN, f"channel is {channel.status.value}, not OPEN")
    if now >= channel.expiry:
        raise Rejected(Rejection.CHANNEL_EXPIRED, "cannot top up an expired channel")
    check_amount(additional, "additional_deposit", allow_zero=True)
    if new_expiry and not channel.expiry <= new_expiry <= now + MAX_CHANNEL_LIFETIME:
        raise Rejected(Rejection.INVALID_EXPIRY, "new_expiry must not be earlier and within a year")
    if channel.deposit + additional > MAX_AMOUNT:
        raise Rejected(Rejection.AMOUNT_OVERFLOW, f"a channel deposit may not exceed {MAX_AMOUNT}")
    expiry = new_expiry or channel.expiry
    if additional == 0 and expiry == channel.expiry:
        raise Rejected(Rejection.NOTHING_TO_CHANGE, "top-up adds nothing")
    require_signer(proof, channel.payer, "top-up")
    if sequence != channel.topup_sequence + 1:
        raise Rejected(Rejection.WRONG_SEQUENCE, f"sequence must be {channel.topup_sequence + 1}")
    refund_signature = channel.refund_signature
    if expiry != channel.expiry:
        if refund is None:
            raise Rejected(Rejection.REFUND_MISMATCH, "a later expiry needs the payee's new refund")
        if not refund_covers(refund.terms, channel.channel_id, expiry, sequence):
            raise Rejected(
                Rejection.REFUND_MISMATCH, "refund must cover the new expiry and this sequence"
            )
        require_signer(refund.proof, channel.payee, "refund")
        refund_signature = refund.proof.signature
    if payer.balance < additional:
        raise Rejected(
            Rejection.INSUFFICIENT_FUNDS, f"balance {payer.balance} is below {additional}"
        )
    after = replace(
        channel,
        deposit=Amount(channel.deposit + additional),
        expiry=Timestamp(expiry),
        topup_sequence=sequence,
        refund_signature=refund_signature,
    )
    t = _check_transition(channel, after, Op.TOP_UP)
    return _with_movements(
        t,
        Movement(
            Bucket.account(channel.payer), Bucket.escrow(channel.channel_id), Amount(additional)
        ),
    )


def settle_due(channel: Channel, now: Timestamp) -> ChannelTransition | None:
    """The sweeper: settle what nobody settled in time, honouring the best checkpoint."""
    if channel.status is _OPEN and now >= channel.expiry:
        reason = SettleReason.SWEPT
    elif channel.status is _CLOSING and now >= min(channel.close_deadline, channel.expiry):
        reason = SettleReason.CHALLENGE_EXPIRED
    else:
        return None
    return _settle(channel, channel.best_cumulative, reason, now, Op.SETTLE_DUE)


def due_at(channel: Channel) -> Timestamp | None:
    """When `settle_due` will act on this channel."""
    if channel.status is _OPEN:
        return channel.expiry
    if channel.status is _CLOSING:
        return Timestamp(min(channel.close_deadline, channel.expiry))
    return None


# ---------------------------------------------------------------- withdrawals


class WithdrawalOp(enum.Enum):
    REQUEST = "withdrawal_requested"
    MARK_PAID = "withdrawal_paid"
    MARK_FAILED = "withdrawal_failed"


_PENDING, _PAID, _FAILED = WithdrawalStatus.PENDING, WithdrawalStatus.PAID, WithdrawalStatus.FAILED

# A withdrawal's only moves: (from, to) -> the operation that makes it. Paid and failed are final.
WITHDRAWAL_TRANSITIONS: dict[tuple[WithdrawalStatus | None, WithdrawalStatus], WithdrawalOp] = {
    (None, _PENDING): WithdrawalOp.REQUEST,
    (_PENDING, _PAID): WithdrawalOp.MARK_PAID,
    (_PENDING, _FAILED): WithdrawalOp.MARK_FAILED,
}
WITHDRAWAL_EVENTS: dict[WithdrawalOp, EventKind] = {
    WithdrawalOp.REQUEST: EventKind.WITHDRAWAL_REQUESTED,
    WithdrawalOp.MARK_PAID: EventKind.WITHDRAWAL_PAID,
    WithdrawalOp.MARK_FAILED: EventKind.WITHDRAWAL_FAILED,
}


def request_withdrawal(
    account: Account, tron_address: str, amount: int, nonce: int, proof: SignedBy
) -> Amount:
    """Validate a signed withdrawal request; the caller reserves `amount` with `reserve`."""
    check_address(tron_address, "tron_address")
    amount = check_amount(amount, "amount")
    require_signer(proof, account.account_id, "withdrawal")
    check_account_nonce(account, nonce)
    if account.balance < amount:
        raise Rejected(Rejection.INSUFFICIENT_FUNDS, f"balance {account.balance} is below {amount}")
    return amount


def reserve(withdrawal: Withdrawal) -> Movement:
    """A new (pending) withdrawal's amount leaves the account until the bridge settles it."""
    key = (None, withdrawal.status)
    if WITHDRAWAL_TRANSITIONS.get(key) is not WithdrawalOp.REQUEST:
        raise InvariantBroken(f"illegal withdrawal transition {key}")
    return Movement(
        Bucket.account(withdrawal.account_id),
        Bucket.pending(withdrawal.withdrawal_id),
        withdrawal.amount,
    )


@dataclass(frozen=True, slots=True)
class WithdrawalTransition:
    before: Withdrawal
    after: Withdrawal
    op: WithdrawalOp
    movement: Movement

    @property
    def event(self) -> EventKind:
        return WITHDRAWAL_EVENTS[self.op]


def finish_withdrawal(
    withdrawal: Withdrawal, *, paid: bool, txid: str, reason: str, now: Timestamp
) -> WithdrawalTransition | None:
    """The bridge's verdict: paid (on chain: the money leaves) or failed (it returns).

    None when the same payment is confirmed again: an idempotent repeat changes nothing.
    """
    after_status = _PAID if paid else _FAILED
    key = (withdrawal.status, after_status)
    op = WITHDRAWAL_TRANSITIONS.get(key)
    if op is None:
        if paid and withdrawal.status is _PAID and withdrawal.txid == txid:
            return None
        raise Rejected(
            Rejection.WITHDRAWAL_NOT_PENDING,
            f"withdrawal {withdrawal.withdrawal_id} is {withdrawal.status}",
        )
    pending = Bucket.pending(withdrawal.withdrawal_id)
    target = CHAIN_WITHDRAWALS if paid else Bucket.account(withdrawal.account_id)
    after = replace(
        withdrawal, status=after_status, txid=txid, failure_reason=reason, updated_at=now
    )
    return WithdrawalTransition(withdrawal, after, op, Movement(pending, target, withdrawal.amount))
