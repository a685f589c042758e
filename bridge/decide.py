"""What to do next for one pending withdrawal: a pure decision, no I/O.

    Observation (the ledger's record of the payout + what the chain shows) -> Action

Every tx ever signed for a withdrawal is recorded on the ledger before its first broadcast, and
the chain is read at one solid head, so the decision sees every tx that could still land:
- a tx in a solidified block with a SUCCESS receipt pays the withdrawal (mark it paid);
- one with a FAILED receipt moved nothing but its fee (mark the withdrawal failed: the money
  goes back to the account);
- a tx in the pool or in a block not yet solidified may still land: wait;
- a tx in no block can land until a block's time passes its expiration, so until a solidified
  block is at or past it, the same bytes are broadcast again; after that it can never land and
  a replacement is signed (or, when the node refused it for good, the withdrawal fails);
- with no tx yet, limits may refuse the withdrawal (it can never pass) or hold it (the daily
  limit: it stays pending and is paid on a later UTC day); else the first tx is signed.
Transfers from the bridge carrying the withdrawal's memo (`btt-withdrawal:<id>`), seen on chain,
count like recorded txs, so a tx the ledger does not know (an older bridge version) is never
paid beside.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bridge.tron import TxStatus
from core.crypto import is_address

MEMO_PREFIX = b"btt-withdrawal:"


def payout_memo(withdrawal_id: int) -> bytes:
    return MEMO_PREFIX + str(withdrawal_id).encode()


def withdrawal_of_memo(memo: bytes) -> int | None:
    """The withdrawal id a payout memo names, or None when it is not a payout memo."""
    if not memo.startswith(MEMO_PREFIX):
        return None
    digits = memo[len(MEMO_PREFIX) :]
    if not digits.isdigit() or len(digits) > 19 or digits.startswith(b"0"):
        return None
    return int(digits)


class PayoutState(enum.StrEnum):
    """Where one pending withdrawal's payout stands, derived from an observation."""

    NEW = "new"  # no tx signed yet
    LIVE = "live"  # latest tx in no block, can still land: broadcast it (again)
    SEEN = "seen"  # latest tx in the pool or an unsolidified block: wait
    REFUSED = "refused"  # the node refused the latest tx, which could still land elsewhere
    EXPIRED = "expired"  # the latest tx can never land: replace it
    DEAD = "dead"  # refused by the node and can never land: the withdrawal fails
    CONFIRMED = "confirmed"  # a tx succeeded in a solidified block
    REVERTED = "reverted"  # a tx failed in a solidified block
    FOREIGN = "foreign"  # a memo tx on chain pays another address or amount


class Act(enum.StrEnum):
    REFUSE = "refuse"  # mark the withdrawal failed before any tx: it can never pass
    HOLD = "hold"  # leave it pending this pass
    SIGN = "sign"  # sign the first tx, record it on the ledger, broadcast it
    BROADCAST = "broadcast"  # send the latest tx's bytes again
    WAIT = "wait"
    REPLACE = "replace"  # sign a new tx, record it as the latest's replacement, broadcast it
    MARK_PAID = "mark_paid"
    FAIL = "fail"  # mark the withdrawal failed: the money returns to the account


# The only moves there are: each state and the acts it allows.
TRANSITIONS: dict[PayoutState, frozenset[Act]] = {
    PayoutState.NEW: frozenset({Act.REFUSE, Act.HOLD, Act.SIGN}),
    PayoutState.LIVE: frozenset({Act.BROADCAST}),
    PayoutState.SEEN: frozenset({Act.WAIT}),
    PayoutState.REFUSED: frozenset({Act.WAIT}),
    PayoutState.EXPIRED: frozenset({Act.REPLACE}),
    PayoutState.DEAD: frozenset({Act.FAIL}),
    PayoutState.CONFIRMED: frozenset({Act.MARK_PAID}),
    PayoutState.REVERTED: frozenset({Act.FAIL}),
    PayoutState.FOREIGN: frozenset({Act.HOLD}),
}


@dataclass(frozen=True, slots=True)
class Limits:
    max_withdrawal: int = 0  # base units per withdrawal; 0 = none
    daily_limit: int = 0  # base units per UTC day; 0 = none


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    """What a pending withdrawal asks for: an amount to a TRON address."""

    tron_address: str
    amount: int


@dataclass(frozen=True, slots=True)
class TxSeen:
    """A recorded payout tx and what the chain and the node said about it."""

    txid: str
    expiration: int  # ms, from the signed bytes
    status: TxStatus
    refused: str = ""  # why the node refused its broadcast for good; "" if it did not
    in_block: bool = False  # in a block (solidified or not)


@dataclass(frozen=True, slots=True)
class MemoSeen:
    """A transfer from the bridge carrying this withdrawal's memo, in a solidified block."""

    txid: str
    to: str
    amount: int
    success: bool


@dataclass(frozen=True, slots=True)
class Observation:
    request: PayoutRequest
    txs: tuple[TxSeen, ...]  # in the order signed; statuses read after `solid_time`
    solid_time: int  # ms, timestamp of the solid head
    memos: tuple[MemoSeen, ...] = ()
    used_today: int = 0  # base units of payouts started today that did not fail


@dataclass(frozen=True, slots=True)
class Action:
    act: Act
    txid: str = ""  # the tx to broadcast, replace or mark paid
    reason: str = ""


class IllegalAction(AssertionError):
    """A decision outside TRANSITIONS: a bug, never a state to carry on from."""


def refusal(request: PayoutRequest, limits: Limits) -> str | None:
    """Why this withdrawal can never be paid, or None."""
    if not is_address(request.tron_address):
        return f"not a TRON address: {request.tron_address!r}"
    if limits.max_withdrawal and request.amount > limits.max_withdrawal:
        return f"over the per-withdrawal limit of {limits.max_withdrawal} units"
    return None


def classify(obs: Observation) -> PayoutState:
    request = obs.request
    for memo in obs.memos:
        if (memo.to, memo.amount) != (request.tron_address, request.amount):
            return PayoutState.FOREIGN
    if any(t.status is TxStatus.SUCCESS for t in obs.txs) or any(m.success for m in obs.memos):
        return PayoutState.CONFIRMED
    if any(t.status is TxStatus.FAILED for t in obs.txs) or obs.memos:
        return PayoutState.REVERTED
    if not obs.txs:
        return PayoutState.NEW
    latest = obs.txs[-1]
    if latest.status is TxStatus.PENDING:
        return PayoutState.SEEN
    if obs.solid_time < latest.expiration:
        return PayoutState.REFUSED if latest.refused else PayoutState.LIVE
    return PayoutState.DEAD if latest.refused else PayoutState.EXPIRED


def decide(obs: Observation, limits: Limits) -> Action:
    state = classify(obs)
    action = _choose(state, obs, limits)
    if action.act not in TRANSITIONS[state]:
        raise IllegalAction(f"{action.act} is not allowed in state {state}")
    return action


def _choose(state: PayoutState, obs: Observation, limits: Limits) -> Action:
    request = obs.request
    if state is PayoutState.NEW:
        refused = refusal(request, limits)
        if refused is not None:
            return Action(Act.REFUSE, reason=refused)
        if limits.daily_limit and obs.used_today + request.amount > limits.daily_limit:
            return Action(Act.HOLD, reason="daily limit reached")
        return Action(Act.SIGN)
    if state is PayoutState.CONFIRMED:
        paid = [t.txid for t in obs.txs if t.status is TxStatus.SUCCESS]
        paid += [m.txid for m in obs.memos if m.success]
        return Action(Act.MARK_PAID, txid=paid[0])
    if state is PayoutState.REVERTED:
        failed = [t.txid for t in obs.txs if t.status is TxStatus.FAILED]
        failed += [m.txid for m in obs.memos]
        return Action(Act.FAIL, txid=failed[0], reason=f"payout tx {failed[0]} failed on chain")
    if state is PayoutState.FOREIGN:
        wanted = (request.tron_address, request.amount)
        memo = next(m for m in obs.memos if (m.to, m.amount) != wanted)
        return Action(
            Act.HOLD,
            txid=memo.txid,
            reason=f"tx {memo.txid} carries this withdrawal's memo but pays {memo.amount} to "
            f"{memo.to}: an operator must decide",
        )
    latest = obs.txs[-1]
    if state is PayoutState.LIVE:
        return Action(Act.BROADCAST, txid=latest.txid)
    if state is PayoutState.EXPIRED:
        return Action(Act.REPLACE, txid=latest.txid)
    if state is PayoutState.DEAD:
        return Action(
            Act.FAIL, txid=latest.txid, reason=f"payout refused by the node: {latest.refused}"
        )
    return Action(Act.WAIT, txid=latest.txid)  # SEEN, REFUSED
