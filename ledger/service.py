"""Use cases of the ledger: each is one database transaction around one protocol decision.

The channel and account use cases are here; the Treasury's (ledger/treasury_service.py), the
faucet's (ledger/faucet_service.py) and the payout records (ledger/payout_service.py) are mixed in.

Load state (locked) -> pure protocol decides -> write the new state, its journal rows and its
outbox events -> commit -> wake subscribers. A `Rejected` raised anywhere rolls everything back.

Signed requests take effect at most once: a write given its request's digest stores its result
in the same transaction, and the same request sent again is answered with that result. When the
connection fails while COMMIT is in flight, the outcome is looked up, never guessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

from core.clock import Clock
from core.rejections import Rejected, Rejection
from core.signing import SignedBy
from core.status import ChannelStatus, EventKind
from core.types import Amount, Nonce, Timestamp
from ledger import faucet, protocol
from ledger.domain import Account, Channel, Event
from ledger.faucet_service import FaucetMixin
from ledger.payout_service import PayoutRecordsMixin
from ledger.protocol import ChannelTransition, Refund, StateProof
from ledger.storage.deadline import caller as caller_deadline
from ledger.storage.errors import CommitOutcomeUnknown, DatabaseUnavailable
from ledger.storage.store import Store, Tx
from ledger.treasury_service import TreasuryMixin
from ledger.usecase import (
    CHANNEL_REPLY,
    TRANSFER_REPLY,
    AuditReport,
    EventBell,
    Once,
    _once,
    channel_event_amount,
    lock_conflict,
    state_to_record,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRY_PAUSE = 0.002
_RETRY_PAUSE_MAX = 0.1
NUMBERING_BATCH = 5000


class LedgerService(TreasuryMixin, FaucetMixin, PayoutRecordsMixin):
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
