"""Many signed operations in one transaction, each decided and answered on its own.

`BatchWriter.run` takes transfers, state checkpoints and payee closes: it locks every channel and
account they name (in id order, as single writes do), looks their request digests up, decides each
operation in turn with the pure protocol against the state the earlier ones left, and writes all
the accepted effects with a few multi-row statements (storage/bulk.py) and their results under
their digests, then commits once. A rejected operation changes nothing and its neighbours go on;
every accepted one balances on its own, as its single-operation twin would. The answers are the
ones the single-operation RPCs give, and a digest that already took effect (earlier, or earlier
in the same batch) gets its stored result.

A lock conflict, or a database that cannot be reached (nothing committed), retries the batch
until the deadline, as a single write retries. Any other failure - a constraint violation, a
COMMIT whose outcome is unknown - runs each operation alone through the ordinary write path,
which resolves an unclear COMMIT by the digest. So an operation is never answered before the
transaction that holds it committed.

`GroupCommit` feeds single RPCs into batches: the operations that arrive while a batch commits (or
within a millisecond) form the next one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.status import EventKind
from core.types import Amount, Nonce, Timestamp
from ledger import protocol
from ledger.domain import Account, Channel
from ledger.protocol import ChannelTransition, StateProof
from ledger.service import LedgerService
from ledger.storage import deadline as db_deadline
from ledger.storage.bulk import BulkWrites
from ledger.storage.errors import CommitOutcomeUnknown, DatabaseUnavailable
from ledger.storage.replies import ReplyCodec
from ledger.storage.store import Tx
from ledger.usecase import (
    CHANNEL_REPLY,
    TRANSFER_REPLY,
    channel_event_amount,
    lock_conflict,
    state_to_record,
)

log = logging.getLogger(__name__)

MAX_MEMO = 120


@dataclass(frozen=True, slots=True)
class TransferOp:
    sender: str
    recipient: str
    amount: int
    nonce: int
    memo: str
    proof: SignedBy
    digest: bytes
    kind = "transfer"

    def check(self) -> None:
        """What the single write checks before its transaction."""
        protocol.check_address(self.sender, "from_account")
        protocol.check_address(self.recipient, "to_account")
        if len(self.memo) > MAX_MEMO:
            raise Rejected(Rejection.MALFORMED, f"memo is longer than {MAX_MEMO} characters")


@dataclass(frozen=True, slots=True)
class SubmitStateOp:
    channel_id: bytes
    nonce: int
    cumulative: int
    proof: SignedBy
    digest: bytes
    kind = "submit_state"

    def check(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class CloseOp:
    channel_id: bytes
    state: StateProof | None
    close_nonce: int
    close_cumulative: int
    close_proof: SignedBy
    digest: bytes
    kind = "close_channel"

    def check(self) -> None:
        pass


Op = TransferOp | SubmitStateOp | CloseOp
ChannelOp = SubmitStateOp | CloseOp
CODECS: dict[str, ReplyCodec[Any]] = {
    "transfer": TRANSFER_REPLY,
    "submit_state": CHANNEL_REPLY,
    "close_channel": CHANNEL_REPLY,
}


@dataclass(slots=True)
class Outcome:
    """An operation's answer: its result (as the single RPC returns it) or why it failed."""

    value: Any = None
    error: BaseException | None = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


@dataclass
class _Decided:
    """An accepted operation whose result waits for the journal's entry ids."""

    index: int
    op: Op
    make: Callable[[list[int]], Any]


@dataclass
class _State:
    """The locked rows as the operations decided so far left them."""

    accounts: dict[str, Account]
    channels: dict[bytes, Channel]
    writes: BulkWrites = field(default_factory=BulkWrites)


class BatchWriter:
    def __init__(self, service: LedgerService) -> None:
        self.service = service
        self.store = service.store

    # ------------------------------------------------------------ the batch
    def run(self, ops: Sequence[Op], deadline: float | None = None) -> list[Outcome]:
        """Every operation's outcome, in order. `deadline`: when all must be answered."""
        outcomes: list[Outcome | None] = [None] * len(ops)
        todo: list[int] = []
        for i, op in enumerate(ops):
            try:
                op.check()
                todo.append(i)
            except Rejected as rejected:
                outcomes[i] = Outcome(error=rejected)
        if todo:
            deadline = deadline or time.monotonic() + 2 * self.store.timeout
            done = self._commit([ops[i] for i in todo], deadline)
            for i, outcome in zip(todo, done, strict=True):
                outcomes[i] = outcome
        return [
            o if o is not None else Outcome(error=AssertionError("unanswered")) for o in outcomes
        ]

    def _commit(self, ops: list[Op], deadline: float) -> list[Outcome]:
        pause = 0.002
        while True:
            try:
                with self.store.transaction(min(self.store.deadline(), deadline)) as tx:
                    outcomes = self._apply(tx, self.service.now(), ops)
                if tx.wrote_events:
                    self.service.bell.ring()
                return outcomes
            except DatabaseUnavailable as exc:
                # Nothing was committed: try again while there is time, as a single write does.
                if time.monotonic() + pause >= deadline:
                    return [Outcome(error=exc) for _ in ops]
            except DBAPIError as exc:
                if not lock_conflict(exc) or time.monotonic() + pause >= deadline:
                    return self._one_by_one(ops, deadline, exc)
                log.info("retrying a batch after a lock conflict")
            except Exception as exc:
                return self._one_by_one(ops, deadline, exc)
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _one_by_one(self, ops: list[Op], deadline: float, cause: BaseException) -> list[Outcome]:
        """The batch did not commit, or may have: each operation alone through the ordinary
        write path, which finds an operation that did take effect by its digest."""
        log.info("batch of %d failed (%s); writing its operations one by one", len(ops), cause)
        # After an unclear COMMIT, "nothing was committed" is known of no retry's failure: the
        # batch may have taken effect. Otherwise the batch certainly committed nothing.
        unclear = isinstance(cause, CommitOutcomeUnknown)
        outcomes = []
        with db_deadline.until(deadline):
            for op in ops:
                try:
                    outcomes.append(Outcome(self._single(op)))
                except DatabaseUnavailable as exc:
                    error = CommitOutcomeUnknown(str(exc)) if unclear else exc
                    outcomes.append(Outcome(error=error))
                except Exception as exc:  # a rejection, an unclear commit: the op's answer
                    outcomes.append(Outcome(error=exc))
        return outcomes

    def _single(self, op: Op) -> Any:
        s = self.service
        if isinstance(op, TransferOp):
            return s.transfer(
                op.sender, op.recipient, op.amount, op.nonce, op.memo, op.proof, request=op.digest
            )
        if isinstance(op, SubmitStateOp):
            return s.submit_state(
                op.channel_id, op.nonce, op.cumulative, op.proof, request=op.digest
            )
        return s.close_channel(
            op.channel_id,
            op.state,
            op.close_nonce,
            op.close_cumulative,
            op.close_proof,
            request=op.digest,
        )

    # ------------------------------------------------------------ inside the transaction
    def _apply(self, tx: Tx, now: Timestamp, ops: list[Op]) -> list[Outcome]:
        channels = tx.channels(op.channel_id for op in ops if not isinstance(op, TransferOp))
        parties: set[str] = set()
        for op in ops:
            if isinstance(op, TransferOp):
                parties.update((op.sender, op.recipient))
            elif isinstance(op, CloseOp) and op.channel_id in channels:
                c = channels[op.channel_id]
                parties.update((c.payer, c.payee))
        state = _State(tx.accounts(parties, create_at=now) if parties else {}, channels)
        # Looked up after the locks: a twin of one of these requests elsewhere has either
        # committed by now or not started, since it needs the same rows.
        stored = tx.applied_requests(op.digest for op in ops)
        outcomes: list[Outcome | _Echo] = []
        decided: list[_Decided] = []
        taken: dict[bytes, int] = {}  # digest -> index of the accepted op in this batch
        for i, op in enumerate(ops):
            if op.digest in stored and stored[op.digest][0] == op.kind:
                outcomes.append(Outcome(CODECS[op.kind].decode(stored[op.digest][1])))
                continue
            try:
                make = self._decide(state, op, now)
            except Rejected as rejected:
                # The same request accepted earlier in this batch: this is its echo.
                echo = taken.get(op.digest)
                outcomes.append(Outcome(error=rejected) if echo is None else _Echo(echo))
                continue
            taken.setdefault(op.digest, i)
            decided.append(_Decided(i, op, make))
            outcomes.append(Outcome())
        writes = state.writes
        entry_ids = writes.reserve_entry_ids(tx)
        recorded: set[bytes] = set()
        for d in decided:
            value = d.make(entry_ids)
            outcomes[d.index] = Outcome(value)
            if d.op.digest not in recorded:  # a digest is stored (and answered) once
                recorded.add(d.op.digest)
                writes.record_request(d.op.digest, d.op.kind, CODECS[d.op.kind].encode(value), now)
        writes.flush(tx)
        return [outcomes[o.index] if isinstance(o, _Echo) else o for o in outcomes]  # type: ignore[misc]

    def _decide(self, state: _State, op: Op, now: Timestamp) -> Callable[[list[int]], Any]:
        """Decide one operation against `state`; on success apply it there and queue its writes,
        returning how to build its result once the journal's entry ids are known."""
        if isinstance(op, TransferOp):
            return self._transfer(state, op, now)
        channel = state.channels.get(op.channel_id)
        if channel is None:
            raise Rejected(Rejection.UNKNOWN_CHANNEL, f"no channel {op.channel_id.hex()}")
        if isinstance(op, SubmitStateOp):
            t = protocol.submit_state(channel, op.nonce, op.cumulative, op.proof, now)
            return self._channel(state, t, now, event=EventKind.CHANNEL_UPDATED)
        t = protocol.payee_close(
            channel, op.state, op.close_nonce, op.close_cumulative, op.close_proof, now
        )
        return self._channel(state, t, now, event=EventKind.CHANNEL_SETTLED)

    def _transfer(self, state: _State, op: TransferOp, now: Timestamp) -> Callable[..., Any]:
        accounts = state.accounts
        sender, recipient = accounts[op.sender], accounts[op.recipient]
        movement = protocol.transfer(sender, op.recipient, op.amount, op.nonce, op.proof)
        protocol.credit(recipient.balance, op.amount, "recipient balance")
        after = Account(op.sender, Amount(sender.balance - op.amount), Nonce(op.nonce))
        accounts[op.sender] = after
        recipient = accounts[op.recipient]
        accounts[op.recipient] = Account(
            op.recipient, Amount(recipient.balance + op.amount), recipient.nonce
        )
        row = state.writes.post(
            [movement],
            op="transfer",
            reference=op.memo or f"nonce:{op.nonce}",
            at=now,
            nonces={op.sender: after.nonce, op.recipient: accounts[op.recipient].nonce},
        )
        state.writes.add_event(
            EventKind.TRANSFER,
            at=now,
            accounts=[op.sender, op.recipient],
            amount=op.amount,
            reference=op.memo,
        )
        assert row is not None
        return lambda entry_ids: (after, entry_ids[row])

    def _channel(
        self, state: _State, t: ChannelTransition, now: Timestamp, *, event: EventKind
    ) -> Callable[..., Any]:
        after = t.after
        state.channels[after.channel_id] = after
        accounts = state.accounts
        for m in t.movements:
            for bucket, sign in ((m.source, -1), (m.target, 1)):
                if bucket.kind == "account":
                    a = accounts[bucket.key]
                    accounts[bucket.key] = Account(
                        a.account_id, Amount(a.balance + sign * m.amount), a.nonce
                    )
        writes = state.writes
        writes.update_channel(after)
        writes.post(
            t.movements,
            op=t.op.value,
            reference=after.channel_id.hex(),
            at=now,
            nonces={a: accounts[a].nonce for a in (after.payer, after.payee) if a in accounts},
        )
        if state_to_record(t):
            writes.record_state(
                after.channel_id, after.best_nonce, after.best_cumulative, after.best_signature, now
            )
        writes.add_event(
            event,
            at=now,
            accounts=[after.payer, after.payee],
            channel_id=after.channel_id,
            amount=channel_event_amount(after, event),
            reference=t.op.value,
        )
        return lambda _entry_ids: after


@dataclass(frozen=True, slots=True)
class _Echo:
    index: int


# ---------------------------------------------------------------- group commit


@dataclass(frozen=True, slots=True)
class _Waiting:
    op: Op
    deadline: float | None
    future: Future[Outcome]


class GroupCommit:
    """Single operations share transactions: whatever arrived while the previous batch was
    being written, plus what arrives within `window` seconds, goes in the next one.

    Up to `committers` threads write batches (one may commit while the next is being decided);
    they start with the first operation and end after `idle` seconds without one.
    """

    def __init__(
        self,
        writer: BatchWriter,
        *,
        committers: int = 2,
        window: float = 0.001,
        max_ops: int = 256,
        idle: float = 5.0,
    ) -> None:
        self.writer = writer
        self.committers = committers
        self.window = window
        self.max_ops = max_ops
        self.idle = idle
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = 0

    def submit(self, op: Op, deadline: float | None) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._queue.put(_Waiting(op, deadline, future))
        with self._lock:
            if self._running < self.committers:
                self._running += 1
                threading.Thread(target=self._run, name="group-commit", daemon=True).start()
        return future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # else a submit counted on this thread
                        self._running -= 1
                        return
                continue
            batch = [first]
            until = time.monotonic() + self.window
            while len(batch) < self.max_ops:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            # A caller that gave up before its turn came is not written for (as a queued
            # executor job would not be run); the others can no longer be cancelled.
            batch = [w for w in batch if w.future.set_running_or_notify_cancel()]
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Waiting]) -> None:
        deadlines = [w.deadline for w in batch if w.deadline is not None]
        try:
            outcomes = self.writer.run([w.op for w in batch], min(deadlines, default=None))
        except Exception as exc:  # a bug: every caller hears of it, none hangs
            log.exception("group commit failed")
            outcomes = [Outcome(error=exc) for _ in batch]
        for waiting, outcome in zip(batch, outcomes, strict=True):
            waiting.future.set_result(outcome)
