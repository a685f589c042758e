"""The payee's side of all its incoming channels: terms, durable best states, checkpoints,
closing before expiry, and reacting to the ledger's events.

`process()` is the hot path: it decides on a batch of updates that arrived together, commits the
accepted best states (and payer failures) in one fsync'd transaction, and only then returns the
receipts, so nothing is acknowledged that a crash could lose. `on_accepted` hears of the accepted
states as soon as they are verified, before that commit: a seeder extends its service on them at
once, since a crash before the commit loses at most this group's states, which paid for data the
seeder's window had already let out unpaid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from btt.ledger.v1 import ledger_pb2 as pb
from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel.errors import PayeeReason, PeerMisbehaved, TermsRefused
from client_sdk.channel.payee import CheckpointPolicy, PayeeChannel, Verdict
from client_sdk.channel.states import SignedState
from client_sdk.channel.store import PayeeRecord, PayeeStore
from client_sdk.ledger_client import AsyncLedgerClient, LedgerError
from core.clock import Clock, SystemClock
from core.crypto import SigningKey, signed_by
from core.envelopes import sign
from core.rejections import Rejected
from core.signing import signing_digest
from core.status import ChannelStatus, EventKind
from core.terms import OpenTerms, check_open_terms
from core.wire import channel_status_from_pb, event_kind_from_pb

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PayeeTerms:
    """What this payee accepts for a channel, in base units and seconds."""

    min_deposit: int = 1_000_000
    suggested_deposit: int = 10_000_000
    lifetime: int = 6 * 3600
    min_lifetime: int = 3600
    max_lifetime: int = 7 * 24 * 3600
    credit_pieces: int = 1
    close_margin: int = 600  # close on our own this long before the refund unlocks
    piece_size: int = 0

    def to_pb(self, now: int) -> ppb.ChannelTerms:
        return ppb.ChannelTerms(
            min_deposit=self.min_deposit,
            suggested_deposit=self.suggested_deposit,
            suggested_expiry=now + self.lifetime,
            min_expiry=now + self.min_lifetime,
            max_expiry=now + self.max_lifetime,
            credit_pieces=self.credit_pieces,
        )


@dataclass
class _Batch:
    """Decisions on updates that share one commit."""

    tentative: dict[bytes, PayeeRecord] = field(default_factory=dict)
    decided: list[tuple[SignedState, PayeeChannel | None, Verdict]] = field(default_factory=list)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def dirty(self) -> bool:
        return bool(self.tentative or self.failures)


class PayeeBook:
    def __init__(
        self,
        key: SigningKey,
        ledger: AsyncLedgerClient,
        store: PayeeStore,
        ledger_id: str,
        *,
        terms: PayeeTerms | None = None,
        policy: CheckpointPolicy | None = None,
        clock: Clock | None = None,
        tick: float = 1.0,
    ) -> None:
        self.key = key
        self.address = key.address
        # Told about every batch of receipts once it is committed (refusals count against payers).
        self.on_receipts: Callable[[list[ppb.PaymentReceipt]], None] | None = None
        # Told about the states a batch accepts once verified, before their commit (see above).
        self.on_accepted: Callable[[list[tuple[PayeeChannel, PayeeRecord]]], None] | None = None
        self.ledger = ledger
        self.store = store
        self.ledger_id = ledger_id
        self.terms = terms or PayeeTerms()
        self.policy = policy or CheckpointPolicy()
        self.clock = clock or SystemClock()
        self.tick = tick
        self.channels: dict[bytes, PayeeChannel] = {}
        self.failures: Counter[str] = Counter(store.failures())
        self._checkpointing: dict[bytes, asyncio.Task[pb.Channel | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._incoming: list[
            tuple[list[SignedState], asyncio.Future[list[ppb.PaymentReceipt]]]
        ] = []
        self._committer: asyncio.Task[None] | None = None
        # One thread for the store: commits leave the event loop free to read the next updates.
        self._io = ThreadPoolExecutor(1, thread_name_prefix="payee-store")
        for record in store.all():
            self.channels[record.channel_id] = self._channel(record)

    @classmethod
    async def create(
        cls, key: SigningKey, ledger: AsyncLedgerClient, store: PayeeStore, **kwargs: object
    ) -> PayeeBook:
        return cls(key, ledger, store, await ledger.ledger_id(), **kwargs)  # type: ignore[arg-type]

    def _channel(self, record: PayeeRecord) -> PayeeChannel:
        ch = PayeeChannel(record, self.ledger_id, self.terms.credit_pieces)
        ch.checkpoint_at = int(self.clock.now())
        return ch

    def now(self) -> int:
        return int(self.clock.now())

    # ---------------------------------------------------------------- lifecycle

    async def start(self, *, watch_events: bool = True) -> None:
        self._tasks.append(asyncio.create_task(self._watchdog(), name="payee-watchdog"))
        if watch_events:
            self._tasks.append(asyncio.create_task(self._watch_events(), name="payee-events"))

    async def stop(self) -> None:
        tasks: list[asyncio.Task[Any]] = [*self._tasks, *self._checkpointing.values()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        self._checkpointing.clear()
        if self._committer is not None:
            with contextlib.suppress(Exception):
                await self._committer

    # ---------------------------------------------------------------- opening

    def sign_refund(
        self,
        *,
        channel_id: bytes,
        payer: str,
        deposit: int,
        expiry: int,
        salt: int,
        rate: int,
        info_hash: str,
    ) -> pb.Signed:
        """Check proposed terms; remember them; return our refund (T2) before money locks."""
        terms = OpenTerms(self.ledger_id, payer, self.address, deposit, expiry, salt, channel_id)
        try:
            check_open_terms(terms)  # what the ledger will check of the same open
        except Rejected as exc:
            raise TermsRefused(exc.message) from None
        if deposit < self.terms.min_deposit:
            raise TermsRefused(f"deposit must be at least {self.terms.min_deposit}")
        self._check_expiry(expiry)
        if channel_id in self.channels:
            raise TermsRefused("channel already exists")
        self.store.propose(channel_id, payer, deposit, expiry, rate, info_hash)
        payload = pb.RefundPayload(channel_id=channel_id, expiry=expiry, version=0)
        return sign(self.key, self.ledger_id, payload)

    def _check_expiry(self, expiry: int) -> None:
        now = self.now()
        lo, hi = now + self.terms.min_lifetime, now + self.terms.max_lifetime
        if not lo <= expiry <= hi:
            raise TermsRefused(f"expiry must be within [{lo}, {hi}]")

    async def opened(self, channel_id: bytes, info_hash: str, endpoint: str) -> PayeeChannel:
        """The payer says the channel is open (or changed): check it on the ledger."""
        on_ledger = await self.ledger.get_channel(channel_id)
        if on_ledger.payee != self.address:
            raise PeerMisbehaved("channel is not payable to us")
        known = self.channels.get(channel_id)
        if known is not None:
            return self._refresh(known, on_ledger)
        proposal = self.store.proposal(channel_id)
        if proposal is None:
            raise PeerMisbehaved("we signed no refund for this channel")
        payer, deposit, expiry, rate, proposed_hash = proposal
        if channel_status_from_pb(on_ledger.status) is not ChannelStatus.OPEN:
            raise PeerMisbehaved("channel is not open")
        if (on_ledger.payer, on_ledger.expiry) != (payer, expiry) or on_ledger.deposit < deposit:
            raise PeerMisbehaved("channel on the ledger differs from the agreed terms")
        record = PayeeRecord(
            channel_id=channel_id,
            payer=payer,
            deposit=int(on_ledger.deposit),
            expiry=int(on_ledger.expiry),
            rate=rate,
            info_hash=info_hash or proposed_hash,
            peer_endpoint=endpoint,
            topup_sequence=int(on_ledger.topup_sequence),
        )
        self.store.put(record)
        channel = self.channels[channel_id] = self._channel(record)
        return channel

    def _refresh(self, channel: PayeeChannel, on_ledger: pb.Channel) -> PayeeChannel:
        r = channel.record
        status = r.status
        if channel_status_from_pb(on_ledger.status) is ChannelStatus.SETTLED:
            status = ChannelStatus.SETTLED
        channel.record = r.with_(
            deposit=int(on_ledger.deposit),
            expiry=int(on_ledger.expiry),
            topup_sequence=int(on_ledger.topup_sequence),
            status=status,
            checkpoint_nonce=max(r.checkpoint_nonce, int(on_ledger.best_nonce)),
        )
        self.store.put(channel.record)
        return channel

    async def sign_topup_refund(
        self, channel_id: bytes, new_expiry: int, sequence: int
    ) -> pb.Signed:
        channel = self.channels.get(channel_id)
        if channel is None or not channel.is_open:
            raise TermsRefused("no open channel with that id")
        on_ledger = await self.ledger.get_channel(channel_id)
        self._refresh(channel, on_ledger)
        if sequence != on_ledger.topup_sequence + 1:
            raise TermsRefused(f"sequence must be {on_ledger.topup_sequence + 1}")
        if new_expiry < on_ledger.expiry:
            raise TermsRefused("the new expiry must not be earlier")
        self._check_expiry(new_expiry)
        payload = pb.RefundPayload(channel_id=channel_id, expiry=new_expiry, version=sequence)
        return sign(self.key, self.ledger_id, payload)

    # ---------------------------------------------------------------- payments (hot path)

    def process(self, states: Iterable[SignedState]) -> list[ppb.PaymentReceipt]:
        """Decide, commit (blocking fsync) and answer: for callers without an event loop."""
        batch = self._decide(list(states))
        self._tell_accepted(batch)
        if batch.dirty:
            self.store.save_best(batch.tentative.values(), batch.failures)
        return self._apply(batch)

    async def submit(self, states: list[SignedState]) -> list[ppb.PaymentReceipt]:
        """Group commit: updates submitted while a commit is in flight share the next one."""
        fut: asyncio.Future[list[ppb.PaymentReceipt]] = asyncio.get_running_loop().create_future()
        self._incoming.append((states, fut))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_loop(), name="payee-commits")
        receipts = await fut
        if self.on_receipts is not None:
            self.on_receipts(receipts)
        return receipts

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._incoming:
            jobs, self._incoming = self._incoming, []
            try:
                batch = self._decide([s for states, _ in jobs for s in states])
                self._tell_accepted(batch)
                if batch.dirty:
                    await loop.run_in_executor(
                        self._io, self.store.save_best, batch.tentative.values(), batch.failures
                    )
                receipts = self._apply(batch)
            except Exception as exc:  # nothing is acknowledged that was not committed
                for _, fut in jobs:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            start = 0
            for states, fut in jobs:
                if not fut.done():
                    fut.set_result(receipts[start : start + len(states)])
                start += len(states)

    def _decide(self, states: list[SignedState]) -> _Batch:
        batch = _Batch()
        for state in states:
            channel = self.channels.get(state.channel_id)
            if channel is None:
                batch.decided.append((state, None, Verdict(None, PayeeReason.UNKNOWN_CHANNEL)))
                continue
            verdict = channel.evaluate(state, batch.tentative.get(state.channel_id))
            if verdict.record is not None:
                batch.tentative[state.channel_id] = verdict.record
            if verdict.failure:
                n, _ = batch.failures.get(channel.payer, (0, ""))
                batch.failures[channel.payer] = (n + 1, verdict.reason or "")
            batch.decided.append((state, channel, verdict))
        return batch

    def _tell_accepted(self, batch: _Batch) -> None:
        if self.on_accepted is not None and batch.tentative:
            try:
                self.on_accepted([(self.channels[c], r) for c, r in batch.tentative.items()])
            except Exception:  # a listener's bug must not fail the payer's updates
                log.exception("on_accepted listener failed")

    def _apply(self, batch: _Batch) -> list[ppb.PaymentReceipt]:
        """After the commit: take the new best states in and build the receipts."""
        for payer, (n, _) in batch.failures.items():
            self.failures[payer] += n
        for channel_id, record in batch.tentative.items():
            channel = self.channels[channel_id]
            # Merge: delivered(), a rate change or a close may have touched the record meanwhile.
            channel.record = channel.record.with_best(
                record.best_nonce, record.best_cumulative, record.best_signature
            )
        receipts = []
        for state, owner, verdict in batch.decided:
            if owner is None:
                receipts.append(
                    ppb.PaymentReceipt(
                        channel_id=state.channel_id,
                        nonce=state.nonce,
                        reason=PayeeReason.UNKNOWN_CHANNEL.value,
                        message="no open channel with that id",
                    )
                )
                continue
            receipts.append(owner.receipt(state, verdict))
            if verdict.record is not None:
                owner.updates_since_checkpoint += 1
        for channel_id in batch.tentative:
            self._maybe_checkpoint(self.channels[channel_id])
        return receipts

    def delivered(self, channel_id: bytes, pieces: int = 1) -> int:
        """The seeder delivered verified pieces on this channel; returns the value owed."""
        return self.channels[channel_id].delivered(pieces)

    def reprice(self, payer: str, info_hash: str, rate: int) -> None:
        """A new rate in force for the payer on this torrent applies to its open channels."""
        for ch in self.channels.values():
            if ch.is_open and (ch.payer, ch.record.info_hash) == (payer, info_hash):
                ch.record = ch.record.with_(rate=rate)

    # ---------------------------------------------------------------- ledger effects

    def _maybe_checkpoint(self, channel: PayeeChannel) -> None:
        if channel.channel_id in self._checkpointing:
            return
        due = self.policy.due(
            channel.updates_since_checkpoint,
            self.now() - channel.checkpoint_at,
            channel.record.best_cumulative - channel.checkpoint_value,
        )
        if due:
            task = asyncio.get_running_loop().create_task(self.checkpoint(channel.channel_id))
            self._checkpointing[channel.channel_id] = task
            key = channel.channel_id
            task.add_done_callback(lambda _t: self._checkpointing.pop(key, None))

    async def checkpoint(self, channel_id: bytes) -> pb.Channel | None:
        """Submit the best state to the ledger (no-op when it already holds it)."""
        channel = self.channels[channel_id]
        best = channel.best
        if best is None or best.nonce <= channel.record.checkpoint_nonce:
            return None
        updates = channel.updates_since_checkpoint
        try:
            on_ledger = await self.ledger.submit_state(best.envelope())
        except LedgerError as exc:
            log.warning("checkpoint of %s failed: %s", channel_id.hex()[:16], exc)
            return None
        channel.updates_since_checkpoint = max(0, channel.updates_since_checkpoint - updates)
        channel.checkpoint_value = best.cumulative
        channel.checkpoint_at = self.now()
        channel.record = channel.record.with_(checkpoint_nonce=best.nonce)
        self.store.put(channel.record)
        return on_ledger

    async def close(self, channel_id: bytes) -> pb.Channel:
        """Close with our best state; stop accepting updates first so none is left out."""
        channel = self.channels[channel_id]
        channel.record = channel.record.with_(status=ChannelStatus.CLOSING)
        self.store.put(channel.record)
        committer = self._committer
        if committer is not None and not committer.done():
            await asyncio.shield(committer)  # updates already acknowledged must be in the close
        best = channel.best
        if best is None:
            on_ledger = await self.ledger.get_channel(channel_id)
            settled = await self.ledger.close_channel(
                channel_id, None, int(on_ledger.best_nonce), int(on_ledger.best_cumulative)
            )
        else:
            settled = await self.ledger.close_channel(
                channel_id, best.envelope(), best.nonce, best.cumulative
            )
        self._refresh(channel, settled)
        return settled

    async def close_due(self) -> list[bytes]:
        """Close every channel whose refund unlocks within the safety margin (or that we began to
        close and did not finish)."""
        now = self.now()
        closed = []
        for channel in list(self.channels.values()):
            r = channel.record
            due = r.status is ChannelStatus.CLOSING or (
                r.status is ChannelStatus.OPEN and now >= r.expiry - self.terms.close_margin
            )
            if not due:
                continue
            try:
                await self.close(channel.channel_id)
                closed.append(channel.channel_id)
            except LedgerError as exc:
                log.warning("closing %s failed: %s", channel.channel_id.hex()[:16], exc)
                if getattr(exc, "reason", "") in ("CHANNEL_SETTLED", "CHANNEL_EXPIRED"):
                    with contextlib.suppress(LedgerError):
                        self._refresh(channel, await self.ledger.get_channel(channel.channel_id))
        return closed

    async def cooperative_close(self, payer_close: pb.Signed) -> tuple[pb.Signed, pb.Channel]:
        payload = pb.CooperativeClosePayload()
        payload.ParseFromString(payer_close.payload)
        channel = self.channels.get(bytes(payload.channel_id))
        if channel is None:
            raise TermsRefused("no channel with that id")
        if payload.cumulative < channel.record.best_cumulative:
            raise TermsRefused(f"cumulative is below our best {channel.record.best_cumulative}")
        digest = signing_digest(
            self.ledger_id, pb.CooperativeClosePayload.DESCRIPTOR.name, payer_close.payload
        )
        if not signed_by(digest, bytes(payer_close.signature), channel.payer):
            raise PeerMisbehaved("cooperative close is not signed by the payer")
        ours = pb.Signed(payload=payer_close.payload, signature=self.key.sign_digest(digest))
        channel.record = channel.record.with_(status=ChannelStatus.CLOSING)
        self.store.put(channel.record)
        settled = await self.ledger.cooperative_close(payer_close, ours)
        self._refresh(channel, settled)
        return ours, settled

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.close_due()
                for channel in list(self.channels.values()):
                    if channel.is_open:
                        self._maybe_checkpoint(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("payee watchdog pass failed")

    async def _watch_events(self) -> None:
        """Close at once when the payer starts a unilateral close; follow top-ups and settles."""
        cursor: int | None = None
        while True:
            try:
                if cursor is None:  # from now on; earlier history is in our store already
                    cursor = (await self.ledger.get_info()).last_event_id
                    # ...except close requests made while we were not watching: answer them.
                    await self._answer_close_requests()
                async for event in self.ledger.events(self.address, cursor):
                    cursor = event.event_id
                    await self._on_event(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream resumes; a watcher must not die quietly
                log.warning("ledger event stream failed (%s); resubscribing", exc)
                await asyncio.sleep(self.tick)

    async def _answer_close_requests(self) -> None:
        """Close our channels that the ledger has CLOSING: their payers asked, maybe while this
        book was not running, and the challenge window is running out."""
        closing = await self.ledger.all_channels(self.address, pb.CHANNEL_STATUS_CLOSING)
        for on_ledger in closing:
            channel = self.channels.get(bytes(on_ledger.channel_id))
            if channel is None or channel.record.status is ChannelStatus.SETTLED:
                continue
            try:
                await self.close(channel.channel_id)
            except LedgerError as exc:
                log.warning("answering a close request failed: %s", exc)

    async def _on_event(self, event: pb.Event) -> None:
        channel = self.channels.get(bytes(event.channel_id))
        if channel is None:
            return
        kind = event_kind_from_pb(event.kind)
        try:
            if (
                kind is EventKind.CHANNEL_CLOSING
                and channel.record.status is not ChannelStatus.SETTLED
            ):
                await self.close(channel.channel_id)
            elif kind in (EventKind.CHANNEL_TOPPED_UP, EventKind.CHANNEL_SETTLED):
                self._refresh(channel, event.channel)
        except LedgerError as exc:
            log.warning("reacting to %s failed: %s", kind, exc)
