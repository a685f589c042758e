"""The payer's side of one channel: the refund handshake, signed payment states, closing.

A state is sent as soon as it is signed and committed to the local store by the store's writer
thread meanwhile; `pay()` returns once both the receipt and the commit are in. A crash can lose
the last states from our store but not from the payee, which holds every state it accepted:
`announce()` adopts the payee's best state when it carries our signature, so a restart resumes
from the last nonce used and never signs two different states with one nonce.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from btt.ledger.v1 import ledger_pb2 as pb
from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.channel.errors import (
    BidRejected,
    InvalidPayment,
    PaymentRejected,
    PeerMisbehaved,
)
from client_sdk.channel.states import SignedState, StateVerifier, sign_state
from client_sdk.channel.store import PayerRecord, PayerStore
from client_sdk.ledger_client import AsyncLedgerClient
from core.crypto import SigningKey, signed_by
from core.envelopes import sign
from core.rejections import Rejected
from core.signing import derive_channel_id, signing_digest
from core.status import ChannelStatus
from core.terms import OpenTerms, check_open_terms, refund_covers
from core.wire import channel_status_from_pb

if TYPE_CHECKING:  # p2p.client imports channel errors: a runtime import would cycle
    from client_sdk.p2p.client import PayeeClient


def verify_refund(
    ledger_id: str, refund: pb.Signed, payee: str, channel_id: bytes, expiry: int, version: int
) -> None:
    """The payee's refund must cover exactly this channel, expiry and version, signed by it."""
    payload = pb.RefundPayload()
    payload.ParseFromString(refund.payload)
    if not refund_covers(
        (bytes(payload.channel_id), payload.expiry, payload.version), channel_id, expiry, version
    ):
        raise PeerMisbehaved("refund does not cover the proposed channel, expiry and version")
    digest = signing_digest(ledger_id, pb.RefundPayload.DESCRIPTOR.name, refund.payload)
    if not signed_by(digest, bytes(refund.signature), payee):
        raise PeerMisbehaved("refund is not signed by the payee")


class PayerChannel:
    def __init__(
        self,
        key: SigningKey,
        ledger: AsyncLedgerClient,
        payee: PayeeClient,
        store: PayerStore,
        record: PayerRecord,
        ledger_id: str,
    ) -> None:
        self.key = key
        self.ledger = ledger
        self.payee = payee
        self.store = store
        self.record = record
        self.ledger_id = ledger_id
        latest = store.latest_state(record.channel_id)
        self.nonce = latest.nonce if latest else 0
        self.cumulative = latest.cumulative if latest else 0

    @property
    def channel_id(self) -> bytes:
        return self.record.channel_id

    @property
    def deposit(self) -> int:
        return self.record.deposit

    @property
    def expiry(self) -> int:
        return self.record.expiry

    @property
    def rate(self) -> int:
        return self.record.rate

    # ---------------------------------------------------------------- opening

    @classmethod
    async def open(
        cls,
        *,
        key: SigningKey,
        ledger: AsyncLedgerClient,
        payee: PayeeClient,
        store: PayerStore,
        info_hash: str,
        peer_endpoint: str,
        bid: int,
        deposit: int | None = None,
        expiry: int | None = None,
    ) -> PayerChannel:
        """Bid, get the payee's refund (T2) and check it, then fund (T1) and announce."""
        ledger_id = await ledger.ledger_id()
        won = await payee.bid(key.address, bid, peer_endpoint, info_hash)
        if not won.accepted:
            raise BidRejected(f"bid not accepted: {won.reason or 'no reason given'}")
        if won.ledger_id != ledger_id:
            raise PeerMisbehaved(f"payee uses ledger {won.ledger_id!r}, not {ledger_id!r}")
        if not 0 < won.rate <= bid:
            raise PeerMisbehaved(f"rate {won.rate} is not within our bid {bid}")
        terms = won.terms
        deposit = deposit if deposit is not None else terms.suggested_deposit
        expiry = expiry if expiry is not None else terms.suggested_expiry
        salt = int.from_bytes(os.urandom(8), "big")
        channel_id = derive_channel_id(ledger_id, key.address, won.payee, salt)
        proposal = OpenTerms(ledger_id, key.address, won.payee, deposit, expiry, salt, channel_id)
        try:
            check_open_terms(proposal)  # the payee's suggestions too, before it signs anything
        except Rejected as exc:
            raise InvalidPayment(exc.message) from None
        refund = await payee.sign_refund(
            ppb.SignRefundRequest(
                channel_id=channel_id,
                payer=key.address,
                deposit=deposit,
                expiry=expiry,
                salt=salt,
                info_hash=info_hash,
            )
        )
        verify_refund(ledger_id, refund, won.payee, channel_id, expiry, 0)
        record = PayerRecord(
            channel_id=channel_id,
            payer=key.address,
            payee=won.payee,
            payee_endpoint=payee.target,
            info_hash=info_hash,
            deposit=deposit,
            expiry=expiry,
            salt=salt,
            rate=won.rate,
            refund=refund.SerializeToString(deterministic=True),
        )
        store.save(record)  # the refund is on disk before any money locks
        await ledger.open_channel(won.payee, deposit, expiry, salt, refund)
        channel = cls(key, ledger, payee, store, record, ledger_id)
        channel._update(status=ChannelStatus.OPEN)
        await channel.announce(peer_endpoint)
        return channel

    @classmethod
    async def resume(
        cls,
        channel_id: bytes,
        *,
        key: SigningKey,
        ledger: AsyncLedgerClient,
        payee: PayeeClient,
        store: PayerStore,
    ) -> PayerChannel:
        record = store.get(channel_id)
        if record is None:
            raise InvalidPayment(f"no local record of channel {channel_id.hex()}")
        return cls(key, ledger, payee, store, record, await ledger.ledger_id())

    async def announce(self, peer_endpoint: str = "") -> ppb.ChannelOpenedResponse:
        """Tell the payee the channel is open (or changed); learn what it already holds."""
        reply = await self.payee.channel_opened(
            self.channel_id, self.record.info_hash, peer_endpoint
        )
        if not reply.ready:
            raise PeerMisbehaved(f"payee is not ready: {reply.reason}")
        if reply.best_nonce > self.nonce or reply.best_cumulative > self.cumulative:
            self._adopt(reply)
        return reply

    def _adopt(self, reply: ppb.ChannelOpenedResponse) -> None:
        """The payee holds a later state than our store (we crashed before committing it): take
        it back if it is ours, so the next state continues from it."""
        state = SignedState(
            self.channel_id, reply.best_nonce, reply.best_cumulative, bytes(reply.best_signature)
        )
        ours = StateVerifier(self.ledger_id, self.key.address).check(state) is None
        if state.nonce <= self.nonce or state.cumulative < self.cumulative or not ours:
            raise PeerMisbehaved("payee claims a state we never signed")
        self.store.record_state(state)
        self.nonce, self.cumulative = state.nonce, state.cumulative

    def _update(self, **changes: object) -> None:
        self.record = replace(self.record, **changes)  # type: ignore[arg-type]
        self.store.save(self.record)

    # ---------------------------------------------------------------- paying

    async def pay(self, amount: int) -> ppb.PaymentReceipt:
        """Pay `amount` more; returns the payee's receipt once it holds the new state and our
        store has it on disk."""
        if amount <= 0:
            raise InvalidPayment("amount must be > 0")
        return await self._receipt(*self._sign_and_queue(self.cumulative + amount))

    async def pay_to(self, cumulative: int) -> ppb.PaymentReceipt:
        return await self._receipt(*self._sign_and_queue(cumulative))

    def _sign_and_queue(
        self, cumulative: int
    ) -> tuple[asyncio.Future[ppb.PaymentReceipt], asyncio.Future[None]]:
        """Sign the next state, send it, queue its commit: synchronous, so concurrent payments
        on the event loop get consecutive nonces without a lock."""
        if self.record.status is not ChannelStatus.OPEN:
            raise InvalidPayment(f"channel is {self.record.status_label}")
        if cumulative <= self.cumulative:
            raise InvalidPayment(f"cumulative {cumulative} is not above {self.cumulative}")
        if cumulative > self.record.deposit:
            raise InvalidPayment(f"cumulative {cumulative} exceeds deposit {self.record.deposit}")
        state = sign_state(self.key, self.ledger_id, self.channel_id, self.nonce + 1, cumulative)
        receipt = self.payee.stream().send(state)
        self.nonce, self.cumulative = state.nonce, state.cumulative
        return receipt, asyncio.wrap_future(self.store.record_state_soon(state))

    @staticmethod
    async def _receipt(
        fut: asyncio.Future[ppb.PaymentReceipt], durable: asyncio.Future[None]
    ) -> ppb.PaymentReceipt:
        receipt = await fut
        await durable
        if not receipt.accepted and receipt.reason != "DUPLICATE":
            raise PaymentRejected(
                receipt.reason, receipt.message, receipt.best_nonce, receipt.best_cumulative
            )
        return receipt

    def latest_state(self) -> SignedState | None:
        return self.store.latest_state(self.channel_id)

    # ---------------------------------------------------------------- changing and closing

    async def top_up(self, additional: int, new_expiry: int = 0) -> pb.Channel:
        """Add deposit and/or move the expiry (the payee signs a refund for a new expiry)."""
        sequence = self.record.topup_sequence + 1
        refund = None
        if new_expiry and new_expiry != self.record.expiry:
            refund = await self.payee.sign_topup_refund(self.channel_id, new_expiry, sequence)
            verify_refund(
                self.ledger_id, refund, self.record.payee, self.channel_id, new_expiry, sequence
            )
        channel = await self.ledger.top_up(
            self.channel_id, additional, new_expiry, sequence, refund
        )
        changes: dict[str, object] = {
            "deposit": int(channel.deposit),
            "expiry": int(channel.expiry),
            "topup_sequence": sequence,
        }
        if refund is not None:
            changes["refund"] = refund.SerializeToString(deterministic=True)
        self._update(**changes)
        await self.announce()
        return channel

    async def cooperative_close(self) -> pb.Channel:
        """Ask the payee to co-sign a close at our latest cumulative; it submits it."""
        payload = pb.CooperativeClosePayload(channel_id=self.channel_id, cumulative=self.cumulative)
        ours = sign(self.key, self.ledger_id, payload)
        reply = await self.payee.cooperative_close(ours)
        if reply.payee_close.payload != ours.payload:
            raise PeerMisbehaved("payee co-signed a different close")
        channel = await self.ledger.get_channel(self.channel_id)
        self._sync_status(channel)
        return channel

    async def request_close(self) -> pb.Channel:
        """Unilateral close: starts the challenge window for the payee's best state."""
        channel = await self.ledger.request_close(self.channel_id)
        self._sync_status(channel)
        return channel

    async def claim_refund(self) -> pb.Channel:
        """After expiry: take the deposit back, less the payee's best checkpoint."""
        channel = await self.ledger.claim_refund(self.channel_id, self.record.refund_envelope())
        self._sync_status(channel)
        return channel

    async def refresh(self) -> pb.Channel:
        channel = await self.ledger.get_channel(self.channel_id)
        self._sync_status(channel)
        return channel

    def _sync_status(self, channel: pb.Channel) -> None:
        status = channel_status_from_pb(channel.status) or self.record.status
        if status is not self.record.status:
            self._update(status=status)
