"""Use cases of the ledger: each is one database transaction around one protocol decision.

Load state (locked) -> pure protocol decides -> write the new state, its journal rows and its
outbox events -> commit -> wake subscribers. A `Rejected` raised anywhere rolls everything back.

Signed requests take effect at most once: a write given its request's digest stores its result
in the same transaction, and the same request sent again is answered with that result. When the
connection fails while COMMIT is in flight, the outcome is looked up, never guessed.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from core.clock import Clock
from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.status import ChannelStatus, EventKind, WithdrawalStatus
from core.types import Amount, Nonce, Timestamp
from core.wire import withdrawal_status_from_pb
from ledger import faucet, payouts, protocol
from ledger.domain import Account, Channel, Event, Totals, Withdrawal
from ledger.payout_service import PayoutRecordsMixin
from ledger.protocol import (
    CHAIN_DEPOSITS,
    Bucket,
    ChannelTransition,
    Movement,
    Refund,
    StateProof,
)
from ledger.storage import payout_store
from ledger.storage.deadline import caller as caller_deadline
from ledger.storage.errors import CommitOutcomeUnknown, DatabaseUnavailable
from ledger.storage.replies import ReplyCodec, dump, load, record_codec
from ledger.storage.store import Store, Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL: serialization_failure, deadlock_detected. SQLite: "database is locked".
_CONFLICT_SQLSTATES = {"40001", "40P01"}
_RETRY_PAUSE = 0.002
_RETRY_PAUSE_MAX = 0.1
NUMBERING_BATCH = 5000
MAX_REASON_CHARS = 500
EVENT_REFERENCE_CHARS = 160  # the events.reference column


def lock_conflict(exc: DBAPIError) -> bool:
    """A lock conflict: the transaction rolled back and may simply be run again."""
    if getattr(exc.orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


@dataclass(frozen=True, slots=True)
class Once(Generic[T]):
    """A signed request that may take effect only once: its digest, and how its result is kept."""

    digest: bytes
    kind: str
    codec: ReplyCodec[T]


CHANNEL_REPLY: ReplyCodec[Channel] = record_codec(Channel)
WITHDRAWAL_REPLY: ReplyCodec[Withdrawal] = record_codec(Withdrawal)
TRANSFER_REPLY: ReplyCodec[tuple[Account, int]] = ReplyCodec(
    lambda r: {"account": dump(r[0]), "entry_id": r[1]},
    lambda d: (load(Account, d["account"]), int(d["entry_id"])),
)


def _once(digest: bytes | None, kind: str, codec: ReplyCodec[T]) -> Once[T] | None:
    return Once(digest, kind, codec) if digest else None


def channel_event_amount(after: Channel, event: EventKind) -> int:
    """The figure a subscriber cares about: what the payee got, its best state, or the deposit."""
    if after.status is ChannelStatus.SETTLED:
        return after.paid_to_payee
    if event is EventKind.CHANNEL_UPDATED:
        return after.best_cumulative
    return after.deposit


def state_to_record(t: ChannelTransition) -> bool:
    """Whether the transition accepted a new best payer-signed state, kept in channel_states."""
    after = t.after
    return bool(after.best_nonce) and (t.before is None or t.before.best_nonce != after.best_nonce)


@dataclass(frozen=True, slots=True)
class AuditReport:
    totals: Totals

    @property
    def liabilities(self) -> int:
        t = self.totals
        return t.account_balances + t.channel_escrow + t.pending_withdrawals

    @property
    def journal_imbalance(self) -> int:
        """Journal-derived liabilities minus what the rows hold; zero when the books agree."""
        t = self.totals
        from_journal = t.journal_account + t.journal_escrow + t.journal_pending
        return from_journal - self.liabilities

    @property
    def balanced(self) -> bool:
        t = self.totals
        return (
            self.liabilities == t.deposits_credited - t.withdrawals_paid
            and t.journal_account == t.account_balances
            and t.journal_escrow == t.channel_escrow
            and t.journal_pending == t.pending_withdrawals
        )


class EventBell:
    """Wakes waiting subscribers after a commit that wrote events (thread-safe)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def ring(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback()


def _withdrawal_page(status: str, limit: int) -> tuple[WithdrawalStatus | None, int]:
    """A listing's status filter (None: all) and its page size, checked."""
    wanted = withdrawal_status_from_pb(status)
    if status and wanted is None:
        raise Rejected(Rejection.MALFORMED, "status must be pending, paid or failed")
    return wanted, min(max(limit or 100, 1), 1000)


class LedgerService(PayoutRecordsMixin):
    def __init__(
        self,
        store: Store,
        *,
        ledger_id: str,
        clock: Clock,
        challenge_window: int = 3600,
        faucet_policy: faucet.FaucetPolicy | None = None,
        faucet_secret: bytes = b"",
    ) -> None:
        self.store = store
        self.ledger_id = ledger_id
        self.clock = clock
        self.challenge_window = challenge_window
        self.faucet_policy = faucet_policy
        self._faucet_secret = faucet_secret  # seals challenges; pinned in the database
        self.bell = EventBell()

    # ------------------------------------------------------------ plumbing
    def now(self) -> Timestamp:
        return self.clock.now()

    def _write(self, work: Callable[[Tx, Timestamp], T], once: Once[T] | None = None) -> T:
        """Run `work` in one transaction and return its result; ring the bell after commit.

        With `once`, the result is stored under the request's digest in the same transaction,
        and a request that already took effect is answered with its stored result.
        """
        # Each transaction is bounded by the store's timeout; the whole call, retries and the
        # lookup after an unclear COMMIT included, by the caller's deadline (or two timeouts).
        deadline = caller_deadline() or time.monotonic() + 2 * self.store.timeout
        try:
            return self._commit(work, once, deadline)
        except CommitOutcomeUnknown:
            if once is None:
                raise
            return self._resolve(work, once, deadline)

    def _commit(
        self,
        work: Callable[[Tx, Timestamp], T],
        once: Once[T] | None,
        deadline: float,
        *,
        claim_first: bool = False,
    ) -> T:
        """Retry what certainly did not commit (conflicts, a lost connection before COMMIT) until
        it commits, is rejected, or `deadline` comes."""
        pause = _RETRY_PAUSE
        while True:
            try:
                with self.store.transaction(min(self.store.deadline(), deadline)) as tx:
                    now = self.now()
                    if once is not None and claim_first:
                        tx.claim_request(once.digest, once.kind, now)
                    result = work(tx, now)
                    if once is not None:
                        reply = once.codec.encode(result)
                        if claim_first:
                            tx.complete_claim(once.digest, reply)
                        else:
                            tx.record_request(once.digest, once.kind, reply, now)
                if tx.wrote_events:
                    self.bell.ring()
                return result
            except (Rejected, IntegrityError):
                # The same request may have taken effect already (a resend, or a concurrent
                # twin): then this refusal is only its echo, and the stored result is the answer.
                stored = self._applied(once, deadline) if once is not None else None
                if stored is not None:
                    return stored
                raise
            except DatabaseUnavailable:
                if time.monotonic() + pause >= deadline:
                    raise
            except DBAPIError as exc:
                if not lock_conflict(exc):
                    raise
                if time.monotonic() + pause >= deadline:
                    raise DatabaseUnavailable(f"database busy: {exc.orig}") from exc
                log.info("retrying after lock conflict")
            time.sleep(pause)
            pause = min(pause * 2, _RETRY_PAUSE_MAX)

    def _resolve(self, work: Callable[[Tx, Timestamp], T], once: Once[T], deadline: float) -> T:
        """The connection failed while COMMIT was in flight: find out, or say it is unknown.

        Look the digest up on a fresh connection. If it is not there, the first attempt either
        did not commit or its COMMIT is still on its way; doing the work again is then safe
        because this attempt claims the digest first: while the first attempt is pending, the
        claim waits for it, and if it commits the claim fails and the lookup finds its result.
        """
        pause = _RETRY_PAUSE
        while True:
            try:
                stored = self._applied(once, deadline)
                if stored is not None:
                    return stored
                return self._commit(work, once, deadline, claim_first=True)
            except (DatabaseUnavailable, CommitOutcomeUnknown) as exc:
                if time.monotonic() + pause >= deadline:
                    raise CommitOutcomeUnknown(str(exc)) from exc
            time.sleep(pause)
            pause = min(pause * 2, _RETRY_PAUSE_MAX)

    def _applied(self, once: Once[T], deadline: float) -> T | None:
        """The stored result of this request, if it took effect."""
        with self.store.reader(min(self.store.deadline(), deadline)) as tx:
            found = tx.applied_request(once.digest)
        if found is None or found[0] != once.kind:
            return None
        return once.codec.decode(found[1])

    def _read(self, work: Callable[[Tx], T]) -> T:
        with self.store.reader() as tx:
            return work(tx)

    @staticmethod
    def _channel(tx: Tx, channel_id: bytes) -> Channel:
        channel = tx.channel(channel_id)
        if channel is None:
            raise Rejected(Rejection.UNKNOWN_CHANNEL, f"no channel {channel_id.hex()}")
        return channel

    def _commit_channel(
        self, tx: Tx, t: ChannelTransition, now: Timestamp, *, event: EventKind, lock_accounts: bool
    ) -> Channel:
        after = t.after
        if lock_accounts:
            tx.accounts([after.payer, after.payee], create_at=now)
        if t.before is None:
            tx.insert_channel(after)
        else:
            tx.update_channel(after)
        tx.post(t.movements, op=t.op.value, reference=after.channel_id.hex(), at=now)
        if state_to_record(t):
            tx.record_state(
                after.channel_id, after.best_nonce, after.best_cumulative, after.best_signature, now
            )
        tx.add_event(
            event,
            at=now,
            accounts=[after.payer, after.payee],
            channel_id=after.channel_id,
            amount=channel_event_amount(after, event),
            reference=t.op.value,
        )
        return after

    # ------------------------------------------------------------ accounts
    def get_account(self, account_id: str) -> Account:
        protocol.check_address(account_id, "account")
        found = self._read(lambda tx: tx.accounts([account_id]).get(account_id))
        return found or Account(account_id)

    def transfer(
        self,
        sender: str,
        recipient: str,
        amount: int,
        nonce: int,
        memo: str,
        proof: SignedBy,
        *,
        request: bytes | None = None,
    ) -> tuple[Account, int]:
        """`request`: the digest of the signed request, making a resend answer the same."""
        protocol.check_address(sender, "from_account")
        protocol.check_address(recipient, "to_account")
        if len(memo) > 120:
            raise Rejected(Rejection.MALFORMED, "memo is longer than 120 characters")

        def work(tx: Tx, now: Timestamp) -> tuple[Account, int]:
            accounts = tx.accounts([sender, recipient], create_at=now)
            movement = protocol.transfer(accounts[sender], recipient, amount, nonce, proof)
            protocol.credit(accounts[recipient].balance, amount, "recipient balance")
            entry = tx.post(
                [movement],
                op="transfer",
                reference=memo or f"nonce:{nonce}",
                at=now,
                nonces={sender: nonce},
            )
            tx.add_event(
                EventKind.TRANSFER,
                at=now,
                accounts=[sender, recipient],
                amount=amount,
                reference=memo,
            )
            s = accounts[sender]
            assert entry is not None
            return Account(sender, Amount(s.balance - amount), Nonce(nonce)), entry

        return self._write(work, _once(request, "transfer", TRANSFER_REPLY))

    # ------------------------------------------------------------ channels
    def open_channel(
        self,
        *,
        payer: str,
        payee: str,
        deposit: int,
        expiry: int,
        salt: int,
        channel_id: bytes,
        commitment: SignedBy,
        refund: Refund,
        request: bytes | None = None,
    ) -> Channel:
        protocol.check_address(payer, "payer")
        protocol.check_address(payee, "payee")

        def work(tx: Tx, now: Timestamp) -> Channel:
            existing = tx.channel(channel_id)
            accounts = tx.accounts([payer, payee], create_at=now)
            t = protocol.open_channel(
                ledger_id=self.ledger_id,
                existing=existing,
                payer=accounts[payer],
                payee=payee,
                deposit=deposit,
                expiry=expiry,
                salt=salt,
                channel_id=channel_id,
                commitment=commitment,
                refund=refund,
                now=now,
            )
            return self._commit_channel(
                tx, t, now, event=EventKind.CHANNEL_OPENED, lock_accounts=False
            )

        try:
            return self._write(work, _once(request, "open_channel", CHANNEL_REPLY))
        except IntegrityError:
            # A concurrent open of the same channel committed first.
            raise Rejected(
                Rejection.CHANNEL_EXISTS, f"channel {channel_id.hex()} already exists"
            ) from None

    def _channel_op(
        self,
        channel_id: bytes,
        decide: Callable[[Channel, Timestamp], ChannelTransition],
        *,
        event: EventKind,
        moves_money: bool,
        once: Once[Channel] | None,
    ) -> Channel:
        def work(tx: Tx, now: Timestamp) -> Channel:
            channel = self._channel(tx, channel_id)
            t = decide(channel, now)
            return self._commit_channel(tx, t, now, event=event, lock_accounts=moves_money)

        return self._write(work, once)

    def submit_state(
        self,
        channel_id: bytes,
        nonce: int,
        cumulative: int,
        proof: SignedBy,
        *,
        request: bytes | None = None,
    ) -> Channel:
        return self._channel_op(
            channel_id,
            lambda c, now: protocol.submit_state(c, nonce, cumulative, proof, now),
            event=EventKind.CHANNEL_UPDATED,
            moves_money=False,
            once=_once(request, "submit_state", CHANNEL_REPLY),
        )

    def close_channel(
        self,
        channel_id: bytes,
        state: StateProof | None,
        close_nonce: int,
        close_cumulative: int,
        close_proof: SignedBy,
        *,
        request: bytes | None = None,
    ) -> Channel:
        return self._channel_op(
            channel_id,
            lambda c, now: protocol.payee_close(
                c, state, close_nonce, close_cumulative, close_proof, now
            ),
            event=EventKind.CHANNEL_SETTLED,
            moves_money=True,
            once=_once(request, "close_channel", CHANNEL_REPLY),
        )

    def cooperative_close(
        self,
        channel_id: bytes,
        cumulative: int,
        payer_proof: SignedBy,
        payee_proof: SignedBy,
        *,
        request: bytes | None = None,
    ) -> Channel:
        return self._channel_op(
            channel_id,
            lambda c, now: protocol.cooperative_close(c, cumulative, payer_proof, payee_proof, now),
            event=EventKind.CHANNEL_SETTLED,
            moves_money=True,
            once=_once(request, "cooperative_close", CHANNEL_REPLY),
        )

    def request_close(
        self, channel_id: bytes, proof: SignedBy, *, request: bytes | None = None
    ) -> Channel:
        return self._channel_op(
            channel_id,
            lambda c, now: protocol.request_close(c, proof, now, self.challenge_window),
            event=EventKind.CHANNEL_CLOSING,
            moves_money=False,
            once=_once(request, "request_close", CHANNEL_REPLY),
        )

    def claim_refund(
        self, channel_id: bytes, claim: SignedBy, refund: Refund, *, request: bytes | None = None
    ) -> Channel:
        return self._channel_op(
            channel_id,
            lambda c, now: protocol.claim_refund(c, claim, refund, now),
            event=EventKind.CHANNEL_SETTLED,
            moves_money=True,
            once=_once(request, "claim_refund", CHANNEL_REPLY),
        )

    def top_up(
        self,
        channel_id: bytes,
        additional: int,
        new_expiry: int,
        sequence: int,
        proof: SignedBy,
        refund: Refund | None,
        *,
        request: bytes | None = None,
    ) -> Channel:
        def work(tx: Tx, now: Timestamp) -> Channel:
            channel = self._channel(tx, channel_id)
            payer = tx.accounts([channel.payer, channel.payee], create_at=now)[channel.payer]
            t = protocol.top_up(
                channel, payer, additional, new_expiry, sequence, proof, refund, now
            )
            return self._commit_channel(
                tx, t, now, event=EventKind.CHANNEL_TOPPED_UP, lock_accounts=False
            )

        return self._write(work, _once(request, "top_up", CHANNEL_REPLY))

    def get_channel(self, channel_id: bytes) -> Channel:
        def work(tx: Tx) -> Channel:
            return self._channel(tx, channel_id)

        return self._read(work)

    def list_channels(
        self,
        *,
        party: str = "",
        status: ChannelStatus | None = None,
        limit: int = 100,
        after: bytes = b"",
    ) -> list[Channel]:
        if party:
            protocol.check_address(party, "party")
        limit = min(max(limit or 100, 1), 1000)
        return self._read(
            lambda tx: tx.list_channels(party=party, status=status, limit=limit, after=after)
        )

    def sweep(self, batch: int = 200) -> int:
        """Settle every channel whose expiry or challenge window has passed. Returns how many."""
        settled = 0
        due = self._read(lambda tx: tx.due_channel_ids(self.now(), batch))
        for channel_id in due:

            def work(tx: Tx, now: Timestamp, channel_id: bytes = channel_id) -> bool:
                channel = tx.channel(channel_id)
                t = protocol.settle_due(channel, now) if channel else None
                if t is None:
                    return False  # another ledger process settled it first
                self._commit_channel(
                    tx, t, now, event=EventKind.CHANNEL_SETTLED, lock_accounts=True
                )
                return True

            settled += self._write(work)
        return settled

    # ------------------------------------------------------------ events, audit
    def number_events(self) -> int:
        """Give committed events their stream positions (PostgreSQL: after they commit, see
        `Tx.number_events`; SQLite numbers them as it commits them). Returns how many."""
        if not self.store.numbers_events_after_commit:
            return 0
        numbered = 0
        while True:
            with self.store.transaction() as tx:
                count = tx.number_events(NUMBERING_BATCH)
            numbered += count
            if count < NUMBERING_BATCH:
                return numbered

    def events_after(self, event_id: int, limit: int = 500, account: str = "") -> list[Event]:
        """Every event committed so far after `event_id` (a stream position), in stream order."""
        protocol.check_id(event_id, "after_event_id")
        self.number_events()
        return self._read(lambda tx: tx.events_after(event_id, limit, account=account))

    def event_page(
        self, after: int, limit: int, account: str = "", until: int | None = None
    ) -> list[tuple[Event, Channel | None]]:
        """Numbered events after `after` (up to `until`), each with its channel as it is now."""
        protocol.check_id(after, "after_event_id")

        def work(tx: Tx) -> list[tuple[Event, Channel | None]]:
            events = tx.events_after(after, limit, account=account, until=until)
            channels = tx.channels_by_id(e.channel_id for e in events if e.channel_id)
            return [(e, channels.get(e.channel_id) if e.channel_id else None) for e in events]

        return self._read(work)

    def last_event_id(self) -> int:
        return self._read(lambda tx: tx.last_event_id())

    def audit(self) -> AuditReport:
        """The books from row sums and the journal's running totals (no journal scan)."""
        # One transaction so every total is read from the same snapshot (SQLite: under its lock).
        return self._write(lambda tx, _now: AuditReport(tx.totals()))

    def recount(self) -> tuple[AuditReport, AuditReport]:
        """The offline check: (running, recounted) from one snapshot, the journal counted row by
        row. They must be equal; slow on a large ledger."""
        return self._write(
            lambda tx, _now: (AuditReport(tx.totals()), AuditReport(tx.totals(recount=True)))
        )

    # ------------------------------------------------------------ treasury
    def credit_deposit(
        self, txid: str, contract_index: int, account_id: str, amount: int, tron_from: str
    ) -> tuple[bool, Account]:
        txid = payouts.check_txid(txid)
        protocol.check_index(contract_index, "contract_index")
        protocol.check_address(account_id, "account")
        protocol.check_address(tron_from, "tron_from")
        protocol.check_amount(amount, "amount")

        def work(tx: Tx, now: Timestamp) -> tuple[bool, Account]:
            account = tx.accounts([account_id], create_at=now)[account_id]
            earlier = tx.deposit_exists(txid, contract_index)
            if earlier is not None:
                if earlier != (account_id, amount):
                    raise Rejected(
                        Rejection.DEPOSIT_CONFLICT,
                        f"deposit {txid}:{contract_index} was credited with other terms",
                    )
                return False, account
            protocol.check_supply(*tx.credit_totals(), amount)
            protocol.credit(account.balance, amount, "balance")
            if not tx.insert_deposit(txid, contract_index, account_id, amount, tron_from, now):
                return False, account
            tx.post(
                [Movement(CHAIN_DEPOSITS, Bucket.account(account_id), Amount(amount))],
                op="deposit",
                reference=f"{txid}:{contract_index}",
                at=now,
            )
            tx.add_event(
                EventKind.CREDIT, at=now, accounts=[account_id], amount=amount, reference=txid
            )
            return True, Account(account_id, Amount(account.balance + amount), account.nonce)

        return self._write(work)

    def request_withdrawal(
        self,
        account_id: str,
        tron_address: str,
        amount: int,
        nonce: int,
        proof: SignedBy,
        *,
        request: bytes | None = None,
    ) -> Withdrawal:
        protocol.check_address(account_id, "account")

        def work(tx: Tx, now: Timestamp) -> Withdrawal:
            account = tx.accounts([account_id], create_at=now)[account_id]
            units = protocol.request_withdrawal(account, tron_address, amount, nonce, proof)
            w = tx.insert_withdrawal(account_id, tron_address, units, nonce, now)
            op = protocol.WithdrawalOp.REQUEST
            tx.post(
                [protocol.reserve(w)],
                op=op.value,
                reference=f"withdrawal:{w.withdrawal_id}",
                at=now,
                nonces={account_id: nonce},
            )
            tx.add_event(
                protocol.WITHDRAWAL_EVENTS[op],
                at=now,
                accounts=[account_id],
                amount=units,
                reference=str(w.withdrawal_id),
            )
            return w

        return self._write(work, _once(request, "request_withdrawal", WITHDRAWAL_REPLY))

    def list_withdrawals(
        self, status: str = "", limit: int = 100, after: int = 0, *, account: str = ""
    ) -> list[Withdrawal]:
        """Oldest first after the id `after`; only `account`'s when given."""
        wanted, limit = _withdrawal_page(status, limit)
        protocol.check_id(after, "after_id")
        if account:
            protocol.check_address(account, "account")
        return self._read(
            lambda tx: tx.list_withdrawals(status=wanted, limit=limit, after=after, account=account)
        )

    def _finish_withdrawal(
        self, withdrawal_id: int, *, paid: bool, txid: str, reason: str
    ) -> Withdrawal:
        def work(tx: Tx, now: Timestamp) -> Withdrawal:
            w = tx.withdrawal(withdrawal_id)
            if w is None:
                raise Rejected(Rejection.UNKNOWN_WITHDRAWAL, f"no withdrawal {withdrawal_id}")
            t = protocol.finish_withdrawal(w, paid=paid, txid=txid, reason=reason, now=now)
            if t is None:
                return w  # idempotent repeat of the same confirmation
            if not paid:
                tx.accounts([w.account_id], create_at=now)
            tx.update_withdrawal(
                withdrawal_id, status=t.after.status, txid=txid, reason=reason, at=now
            )
            tx.post([t.movement], op=t.op.value, reference=f"withdrawal:{withdrawal_id}", at=now)
            tx.add_event(
                t.event,
                at=now,
                accounts=[w.account_id],
                amount=w.amount,
                reference=txid or reason[:EVENT_REFERENCE_CHARS],
            )
            updated = tx.withdrawal(withdrawal_id)
            assert updated is not None
            return updated

        return self._write(work)

    def mark_withdrawal_paid(self, withdrawal_id: int, txid: str) -> Withdrawal:
        protocol.check_id(withdrawal_id, "withdrawal_id")
        txid = payouts.check_txid(txid)
        return self._finish_withdrawal(withdrawal_id, paid=True, txid=txid, reason="")

    def mark_withdrawal_failed(self, withdrawal_id: int, reason: str) -> Withdrawal:
        protocol.check_id(withdrawal_id, "withdrawal_id")
        protocol.check_text(reason, "reason", MAX_REASON_CHARS)
        return self._finish_withdrawal(
            withdrawal_id, paid=False, txid="", reason=reason or "failed"
        )

    # ------------------------------------------------------------ payout records (the bridge's)
    def list_payouts(
        self, status: str = "", limit: int = 100, after: int = 0
    ) -> list[tuple[Withdrawal, list[payouts.PayoutTx]]]:
        wanted, limit = _withdrawal_page(status, limit)
        protocol.check_id(after, "after_id")

        def work(tx: Tx) -> list[tuple[Withdrawal, list[payouts.PayoutTx]]]:
            ws = tx.list_withdrawals(status=wanted, limit=limit, after=after)
            txs = payout_store.payout_txs(tx, [w.withdrawal_id for w in ws])
            return [(w, txs.get(w.withdrawal_id, [])) for w in ws]

        return self._read(work)

    # ------------------------------------------------------------ promotional faucet
    def faucet_challenge(self, account_id: str) -> tuple[bytes, faucet.Challenge]:
        """A sealed challenge for `account_id`; refused at once if it could never be granted."""
        earlier = (
            self._read(lambda tx: tx.faucet_grant(account_id))
            if self.faucet_policy is not None
            else None
        )
        challenge = faucet.issue_challenge(
            self.faucet_policy,
            ledger_id=self.ledger_id,
            account=account_id,
            earlier=earlier,
            now=self.now(),
            salt=secrets.token_bytes(faucet.SALT_BYTES),
        )
        return faucet.seal(challenge, self._faucet_secret), challenge

    def claim_faucet(
        self, account_id: str, token: bytes, solution: int, client: str
    ) -> tuple[faucet.Grant, Account]:
        """Grant the promotional amount once per account; a retry of a granted claim repeats it."""
        policy = faucet.require_policy(self.faucet_policy)
        protocol.check_address(account_id, "account")

        def work(tx: Tx, now: Timestamp) -> tuple[faucet.Grant, Account]:
            # Every claim locks the pool row first, so claims are serialized: the once-per-account
            # and per-address counts below cannot race.
            accounts = tx.accounts([policy.pool, account_id], create_at=now)
            decision = faucet.decide_claim(
                policy,
                ledger_id=self.ledger_id,
                secret=self._faucet_secret,
                account=account_id,
                token=token,
                solution=solution,
                client=client,
                now=now,
                pool=accounts[policy.pool],
                claimant=accounts[account_id],
                earlier=tx.faucet_grant(account_id),
                recent_from_client=tx.faucet_grants_since(client, Timestamp(now - policy.window)),
            )
            grant, claimant = decision.grant, accounts[account_id]
            if decision.movement is None:
                return grant, claimant
            tx.insert_faucet_grant(grant)
            tx.post(
                [decision.movement], op="faucet_grant", reference=f"faucet:{account_id}", at=now
            )
            tx.add_event(
                EventKind.FAUCET_GRANT,
                at=now,
                accounts=[policy.pool, account_id],
                amount=grant.amount,
                reference="faucet",
            )
            return grant, Account(
                account_id, Amount(claimant.balance + grant.amount), claimant.nonce
            )

        try:
            return self._write(work)
        except IntegrityError:
            # Backstop: the primary key refuses a second grant should two claims ever race.
            raise Rejected(
                Rejection.FAUCET_ALREADY_CLAIMED,
                f"account {account_id} already received its promotional grant",
            ) from None
