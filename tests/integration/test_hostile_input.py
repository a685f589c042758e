"""Hostile input over every RPC of the Ledger, Treasury and Payee services.

The client here knows the services only through gRPC server reflection (grpcio-reflection's
descriptor database) and sends raw bytes through a generic channel call, as any outside party
can. Per method: bodies that do not parse, random bytes in each field, boundary integers and
65-bit varints, NUL and over-long strings (inside signed payloads too, properly re-signed) and
1 ms deadlines. No answer may be INTERNAL or UNKNOWN, no write may succeed, and the ledger's
audit totals and event tip are the same afterwards, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from btt.payee.v1 import payee_pb2 as ppb
from client_sdk.torrent.paid import PaidSeeder, PaidSeederConfig
from client_sdk.torrent.session import create_torrent, write_test_file
from core.crypto import SigningKey
from core.envelopes import sign
from core.hashcash import satisfies
from core.signing import derive_channel_id, signing_digest
from core.types import MAX_AMOUNT
from ledger.faucet import FaucetPolicy
from tests.ledger_harness import LedgerHarness, running_ledger

pytestmark = pytest.mark.timeout(240)

F = FieldDescriptor
BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
GARBAGE_BODIES = (
    b"\xff",
    b"\x0a\xff\xff\xff\xff\x0f",  # a length far past the end
    b"\x0a\x02\xc3\x28",  # field 1 with invalid UTF-8 (or a sub-message that does not parse)
    b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # an 11-byte varint
    b"\x0b",  # a group start that never ends
)
OVERLONG_VARINT = b"\xff" * 9 + b"\x03"  # 65 significant bits
INTS: dict[int, tuple[int, ...]] = {
    F.TYPE_INT64: (-1, -(2**63), 2**63 - 1, MAX_AMOUNT + 1),
    F.TYPE_UINT64: (2**63, 2**64 - 1),
    F.TYPE_UINT32: (2**31, 2**32 - 1),
    F.TYPE_INT32: (-1, 2**31 - 1),
    F.TYPE_ENUM: (-1, 2**31 - 1),
    F.TYPE_BOOL: (),
}
STRINGS = ("", "\x00", "T\x00" + "x" * 32, "é" * 3000)
# The faucet is on and funded, at a difficulty no mutated solution meets by chance (2^-30 each).
FAUCET_POOL = SigningKey.generate()
FAUCET = FaucetPolicy(pool=FAUCET_POOL.address, amount=100, difficulty_bits=30)
PAYLOAD_OF = {
    ("TransferRequest", "transfer"): "TransferPayload",
    ("OpenChannelRequest", "commitment"): "OpenChannelPayload",
    ("OpenChannelRequest", "refund"): "RefundPayload",
    ("SubmitStateRequest", "state"): "ChannelStatePayload",
    ("CloseChannelRequest", "state"): "ChannelStatePayload",
    ("CloseChannelRequest", "close"): "CloseChannelPayload",
    ("CooperativeCloseRequest", "payer_close"): "CooperativeClosePayload",
    ("CooperativeCloseRequest", "payee_close"): "CooperativeClosePayload",
    ("RequestCloseRequest", "request"): "RequestClosePayload",
    ("ClaimRefundRequest", "claim"): "ClaimRefundPayload",
    ("ClaimRefundRequest", "refund"): "RefundPayload",
    ("TopUpRequest", "topup"): "TopUpPayload",
    ("TopUpRequest", "refund"): "RefundPayload",
    ("RequestWithdrawalRequest", "withdrawal"): "WithdrawalPayload",
}


# ---------------------------------------------------------------- wire helpers


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, data: bytes) -> bytes:
    return tag(number, 2) + varint(len(data)) + data


class ReflectionClient:
    """What a generic tool (grpcurl and the like) sees: services and types from reflection."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.db = ProtoReflectionDescriptorDatabase(channel)
        self.pool = DescriptorPool(self.db)
        self.last_reply = b""  # the body of the last unary call answered OK

    def methods(self, prefix: str = "btt.") -> list[MethodDescriptor]:
        services = [s for s in self.db.get_services() if s.startswith(prefix)]
        return [m for s in services for m in self.pool.FindServiceByName(s).methods]

    def message(self, full_name: str) -> type[Message]:
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))

    def call(
        self,
        method: MethodDescriptor,
        body: bytes,
        *,
        timeout: float,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> tuple[grpc.StatusCode, str]:
        path = f"/{method.containing_service.full_name}/{method.name}"
        try:
            if method.client_streaming:
                responses = self.channel.stream_stream(path)(
                    iter([body]), timeout=timeout, metadata=metadata
                )
                for _ in responses:
                    pass
            elif method.server_streaming:
                stream = self.channel.unary_stream(path)(body, timeout=timeout, metadata=metadata)
                for _ in stream:
                    pass
            else:
                self.last_reply = self.channel.unary_unary(path)(
                    body, timeout=timeout, metadata=metadata
                )
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
        return grpc.StatusCode.OK, ""


@dataclass
class Mutator:
    """Hostile variants of one request body, field by field, re-signing signed payloads."""

    client: ReflectionClient
    ledger_id: str
    signers: dict[tuple[str, str], SigningKey] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(8))

    def variants(self, descriptor: Descriptor, base: bytes) -> Iterator[tuple[str, bytes]]:
        for i, garbage in enumerate(GARBAGE_BODIES):
            yield f"garbage#{i}", garbage
        yield "random body", self.rng.randbytes(57)
        yield from self._fields(descriptor, base, "")

    def _fields(
        self, descriptor: Descriptor, base: bytes, path: str
    ) -> Iterator[tuple[str, bytes]]:
        cls = message_factory.GetMessageClass(descriptor)
        for f in descriptor.fields:
            name = path + f.name
            for n in (1, 40):
                yield f"{name}=random{n}", base + length_delimited(f.number, self.rng.randbytes(n))
            if f.type in INTS:
                yield f"{name}=65-bit", base + tag(f.number, 0) + OVERLONG_VARINT
                for value in INTS[f.type]:
                    yield f"{name}={value}", self._set(cls, base, f.name, value)
            elif f.type == F.TYPE_STRING:
                for text in STRINGS:
                    yield f"{name}={text[:8]!r}", self._set(cls, base, f.name, text)
            elif f.type == F.TYPE_BYTES:
                for blob in (b"", self.rng.randbytes(31), self.rng.randbytes(3000)):
                    yield f"{name}=bytes{len(blob)}", self._set(cls, base, f.name, blob)
            elif f.type == F.TYPE_MESSAGE and not f.is_repeated:
                yield from self._nested(cls, descriptor, f, base, name)

    def _set(self, cls: type[Message], base: bytes, name: str, value: object) -> bytes:
        m = cls.FromString(base)
        setattr(m, name, value)
        return m.SerializeToString()

    def _nested(
        self, cls: type[Message], outer: Descriptor, f: FieldDescriptor, base: bytes, name: str
    ) -> Iterator[tuple[str, bytes]]:
        m = cls.FromString(base)
        inner = getattr(m, f.name).SerializeToString()
        m.ClearField(f.name)
        rest = m.SerializeToString()
        for label, data in self._fields(f.message_type, inner, name + "."):
            yield label, rest + length_delimited(f.number, data)
        payload_type = PAYLOAD_OF.get((outer.name, f.name))
        signer = self.signers.get((outer.name, f.name))
        if payload_type is None or signer is None:
            return
        signed = getattr(cls.FromString(base), f.name)
        descriptor = self.client.pool.FindMessageTypeByName(f"btt.ledger.v1.{payload_type}")
        for label, payload in self._fields(descriptor, signed.payload, name + ".payload."):
            digest = signing_digest(self.ledger_id, payload_type, payload)
            envelope = length_delimited(1, payload) + length_delimited(
                2, signer.sign_digest(digest)
            )
            yield f"{label} (signed)", rest + length_delimited(f.number, envelope)


@dataclass
class Probe:
    """Sends every variant of every method; records what must never happen."""

    client: ReflectionClient
    mutator: Mutator
    bases: dict[str, tuple[Message, tuple[tuple[str, str], ...]]]
    reads: set[str]
    sent: int = 0
    bad: list[str] = field(default_factory=list)
    accepted_writes: list[str] = field(default_factory=list)

    def run(self, methods: list[MethodDescriptor]) -> None:
        for method in methods:
            assert method.name in self.bases, f"no base request for {method.full_name}"
            base, metadata = self.bases[method.name]
            body = base.SerializeToString()
            cases = [*self.mutator.variants(method.input_type, body)]
            for label, data in cases:
                self._send(method, label, data, metadata, timeout=10)
            self._send(method, "1 ms deadline", body, metadata, timeout=0.001)

    def _send(
        self,
        method: MethodDescriptor,
        label: str,
        body: bytes,
        metadata: tuple[tuple[str, str], ...],
        *,
        timeout: float,
    ) -> None:
        streaming = method.server_streaming or method.client_streaming
        code, details = self.client.call(
            method, body, timeout=min(timeout, 0.5) if streaming else timeout, metadata=metadata
        )
        self.sent += 1
        where = f"{method.name} [{label}]: {code.name} {details[:120]}"
        if code in BAD:
            self.bad.append(where)
        if code is grpc.StatusCode.OK and method.name == "SubmitBatch":
            # A batch answers OK with one result per operation: none may have been accepted.
            results = pb.SubmitBatchResponse.FromString(self.client.last_reply).results
            if any(not r.HasField("error") for r in results):
                self.accepted_writes.append(where)
        elif code is grpc.StatusCode.OK and method.name not in self.reads and not streaming:
            self.accepted_writes.append(where)


# ---------------------------------------------------------------- the ledger's state


@dataclass
class Scene:
    payer: SigningKey
    payee: SigningKey
    channel_id: bytes
    expiry: int
    failed_withdrawal: int
    deposit_txid: str


def build_scene(h: LedgerHarness) -> Scene:
    """A funded payer, an open channel, a failed and a pending withdrawal, a credited deposit."""
    payer, payee = SigningKey.generate(), SigningKey.generate()
    txid = os.urandom(32).hex()
    with grpc.insecure_channel(h.target) as ch:
        treasury = pb_grpc.TreasuryStub(ch)
        treasury.CreditDeposit(
            pb.CreditDepositRequest(
                txid=txid, account=payer.address, amount=1_000, tron_from=payer.address
            ),
            metadata=h.treasury_metadata(),
        )
        treasury.CreditDeposit(
            pb.CreditDepositRequest(
                txid=os.urandom(32).hex(),
                account=FAUCET_POOL.address,
                amount=1_000,
                tron_from=FAUCET_POOL.address,
            ),
            metadata=h.treasury_metadata(),
        )
        stub = pb_grpc.LedgerStub(ch)
        salt = 7
        cid = derive_channel_id(h.ledger_id, payer.address, payee.address, salt)
        expiry = h.clock.now() + 1000
        commit = pb.OpenChannelPayload(
            payer=payer.address,
            payee=payee.address,
            deposit=500,
            expiry=expiry,
            salt=salt,
            channel_id=cid,
        )
        refund = pb.RefundPayload(channel_id=cid, expiry=expiry)
        stub.OpenChannel(
            pb.OpenChannelRequest(
                commitment=sign(payer, h.ledger_id, commit),
                refund=sign(payee, h.ledger_id, refund),
            )
        )
        ids = []
        for nonce in (1, 2):
            w = pb.WithdrawalPayload(
                account=payer.address, tron_address=payee.address, amount=10, nonce=nonce
            )
            reply = stub.RequestWithdrawal(
                pb.RequestWithdrawalRequest(withdrawal=sign(payer, h.ledger_id, w))
            )
            ids.append(reply.withdrawal.withdrawal_id)
        treasury.MarkWithdrawalFailed(
            pb.MarkWithdrawalFailedRequest(withdrawal_id=ids[0], reason="test"),
            metadata=h.treasury_metadata(),
        )
        lease = treasury.AcquireLease(
            pb.AcquireLeaseRequest(holder="bridge-a", ttl_seconds=3600),
            metadata=h.treasury_metadata(),
        )
        assert lease.granted
    return Scene(payer, payee, cid, expiry, ids[0], txid)


def ledger_bases(
    h: LedgerHarness, s: Scene, signers: dict[tuple[str, str], SigningKey]
) -> dict[str, tuple[Message, tuple[tuple[str, str], ...]]]:
    """One request per method that reaches deep into the ledger and is still refused late."""
    lid, cid, p, q = h.ledger_id, s.channel_id, s.payer, s.payee
    signers.update(
        {
            ("TransferRequest", "transfer"): p,
            ("OpenChannelRequest", "commitment"): p,
            ("OpenChannelRequest", "refund"): q,
            ("SubmitStateRequest", "state"): p,
            ("CloseChannelRequest", "state"): p,
            ("CloseChannelRequest", "close"): q,
            ("CooperativeCloseRequest", "payer_close"): p,
            ("CooperativeCloseRequest", "payee_close"): q,
            ("RequestCloseRequest", "request"): q,  # the wrong party: refused
            ("ClaimRefundRequest", "claim"): p,
            ("ClaimRefundRequest", "refund"): q,
            ("TopUpRequest", "topup"): p,
            ("TopUpRequest", "refund"): q,
            ("RequestWithdrawalRequest", "withdrawal"): p,
        }
    )
    too_much = 10**6  # above the payer's balance
    new_cid = derive_channel_id(lid, p.address, q.address, 8)
    state = pb.ChannelStatePayload(channel_id=cid, nonce=1, cumulative=501)  # above the deposit
    coop = sign(p, lid, pb.CooperativeClosePayload(channel_id=cid, cumulative=501))
    refund = sign(q, lid, pb.RefundPayload(channel_id=cid, expiry=s.expiry))
    token = h.treasury_metadata()
    none: tuple[tuple[str, str], ...] = ()
    with grpc.insecure_channel(h.target) as ch:
        challenge = pb_grpc.LedgerStub(ch).GetFaucetChallenge(
            pb.FaucetChallengeRequest(account=q.address)
        )
    wrong = next(
        n for n in range(100) if not satisfies(challenge.challenge, n, FAUCET.difficulty_bits)
    )
    bases: dict[str, tuple[Message, tuple[tuple[str, str], ...]]] = {
        "GetInfo": (pb.GetInfoRequest(), none),
        "GetAccount": (pb.GetAccountRequest(account=p.address), none),
        "Transfer": (
            pb.TransferRequest(
                transfer=sign(
                    p,
                    lid,
                    pb.TransferPayload(
                        from_account=p.address, to_account=q.address, amount=too_much, nonce=9
                    ),
                )
            ),
            none,
        ),
        "OpenChannel": (
            pb.OpenChannelRequest(
                commitment=sign(
                    p,
                    lid,
                    pb.OpenChannelPayload(
                        payer=p.address,
                        payee=q.address,
                        deposit=too_much,
                        expiry=s.expiry,
                        salt=8,
                        channel_id=new_cid,
                    ),
                ),
                refund=sign(q, lid, pb.RefundPayload(channel_id=new_cid, expiry=s.expiry)),
            ),
            none,
        ),
        "SubmitState": (pb.SubmitStateRequest(state=sign(p, lid, state)), none),
        "CloseChannel": (
            pb.CloseChannelRequest(
                state=sign(p, lid, state),
                close=sign(q, lid, pb.CloseChannelPayload(channel_id=cid, nonce=1, cumulative=501)),
            ),
            none,
        ),
        "CooperativeClose": (
            pb.CooperativeCloseRequest(
                payer_close=coop,
                payee_close=pb.Signed(
                    payload=coop.payload,
                    signature=q.sign_digest(
                        signing_digest(lid, "CooperativeClosePayload", coop.payload)
                    ),
                ),
            ),
            none,
        ),
        "RequestClose": (
            pb.RequestCloseRequest(request=sign(q, lid, pb.RequestClosePayload(channel_id=cid))),
            none,
        ),
        "ClaimRefund": (
            pb.ClaimRefundRequest(
                claim=sign(p, lid, pb.ClaimRefundPayload(channel_id=cid)), refund=refund
            ),
            none,
        ),
        "TopUp": (
            pb.TopUpRequest(
                topup=sign(
                    p,
                    lid,
                    pb.TopUpPayload(channel_id=cid, additional_deposit=too_much, sequence=1),
                ),
                refund=sign(q, lid, pb.RefundPayload(channel_id=cid, expiry=s.expiry, version=1)),
            ),
            none,
        ),
        "GetChannel": (pb.GetChannelRequest(channel_id=cid), none),
        "ListChannels": (pb.ListChannelsRequest(party=p.address), none),
        "Subscribe": (pb.SubscribeRequest(account=p.address), none),
        "Audit": (pb.AuditRequest(), token),
        "RequestWithdrawal": (
            pb.RequestWithdrawalRequest(
                withdrawal=sign(
                    p,
                    lid,
                    pb.WithdrawalPayload(
                        account=p.address, tron_address=q.address, amount=too_much, nonce=9
                    ),
                )
            ),
            none,
        ),
        "ListAccountWithdrawals": (pb.ListAccountWithdrawalsRequest(account=p.address), none),
        "GetFaucetChallenge": (pb.FaucetChallengeRequest(account=q.address), none),
        "ClaimFaucet": (  # a genuine challenge, a solution short of its difficulty
            pb.ClaimFaucetRequest(account=q.address, challenge=challenge.challenge, solution=wrong),
            none,
        ),
        "CreditDeposit": (
            pb.CreditDepositRequest(  # same deposit, other amount: a conflict
                txid=s.deposit_txid, account=p.address, amount=999, tron_from=p.address
            ),
            token,
        ),
        "ListWithdrawals": (pb.ListWithdrawalsRequest(), token),
        "MarkWithdrawalPaid": (
            pb.MarkWithdrawalPaidRequest(withdrawal_id=s.failed_withdrawal, txid="ab" * 32),
            token,
        ),
        "MarkWithdrawalFailed": (
            pb.MarkWithdrawalFailedRequest(withdrawal_id=s.failed_withdrawal, reason="again"),
            token,
        ),
        "AcquireLease": (pb.AcquireLeaseRequest(holder="bridge-b", ttl_seconds=0), token),
        "ReleaseLease": (pb.ReleaseLeaseRequest(holder="bridge-b"), token),  # not the holder
        "RecordPayoutTx": (
            pb.RecordPayoutTxRequest(  # not the lease holder, and the withdrawal is over
                withdrawal_id=s.failed_withdrawal,
                holder="bridge-b",
                txid="ab" * 32,
                expiration_ms=1,
                signed_tx=b"tx",
            ),
            token,
        ),
        "ListPayouts": (pb.ListWithdrawalsRequest(), token),
    }
    # Each operation refused late, as its single RPC is.
    transfer, submit_state, close = (
        bases[m][0] for m in ("Transfer", "SubmitState", "CloseChannel")
    )
    assert isinstance(transfer, pb.TransferRequest)
    assert isinstance(submit_state, pb.SubmitStateRequest)
    assert isinstance(close, pb.CloseChannelRequest)
    batch = pb.SubmitBatchRequest(
        operations=[
            pb.BatchOperation(transfer=transfer),
            pb.BatchOperation(submit_state=submit_state),
            pb.BatchOperation(close=close),
        ]
    )
    bases["SubmitBatch"] = (batch, none)
    return bases


LEDGER_READS = {
    "GetInfo",
    "GetAccount",
    "GetChannel",
    "ListChannels",
    "Subscribe",
    "Audit",
    "ListAccountWithdrawals",
    "GetFaucetChallenge",  # sealed, not stored: the snapshot shows nothing changed
    "ListWithdrawals",
    "ListPayouts",
    "ReleaseLease",  # a no-op for anyone but the holder
}


def snapshot(h: LedgerHarness) -> tuple[object, ...]:
    """Audit totals, the event tip, the bridge lease and the payout records."""
    with grpc.insecure_channel(h.target) as ch:
        stub, treasury = pb_grpc.LedgerStub(ch), pb_grpc.TreasuryStub(ch)
        token = h.treasury_metadata()
        lease = treasury.ReleaseLease(pb.ReleaseLeaseRequest(holder="nobody"), metadata=token)
        payouts = treasury.ListPayouts(pb.ListWithdrawalsRequest(), metadata=token)
        return (
            stub.Audit(pb.AuditRequest()),
            stub.GetInfo(pb.GetInfoRequest()).last_event_id,
            (lease.holder, lease.expires_at),
            payouts,
        )


def assert_quiet(records: list[logging.LogRecord], garbage_sent: int) -> None:
    """No traceback in the log, and unparseable bodies logged a few times, not per request."""
    tracebacks = [r.getMessage() for r in records if r.exc_info]
    assert not tracebacks, tracebacks[:3]
    refusals = [r for r in records if r.getMessage() == "unparseable request refused"]
    assert 1 <= len(refusals) <= 3 < garbage_sent


def test_ledger_and_treasury_refuse_hostile_input(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_ledger(db_url, faucet=FAUCET) as h:
        scene = build_scene(h)
        before = snapshot(h)
        with grpc.insecure_channel(h.target) as channel:
            client = ReflectionClient(channel)
            methods = client.methods()
            assert {m.containing_service.name for m in methods} == {"Ledger", "Treasury"}
            mutator = Mutator(client, h.ledger_id)
            bases = ledger_bases(h, scene, mutator.signers)
            started = time.monotonic()
            probe = Probe(client, mutator, bases, LEDGER_READS)
            probe.run(methods)
            elapsed = time.monotonic() - started
            # The Treasury without its token refuses before looking at anything.
            treasury = [m for m in methods if m.containing_service.name == "Treasury"]
            unauthenticated = Probe(client, mutator, {**bases}, set())
            for m in treasury:
                unauthenticated.bases[m.name] = (bases[m.name][0], ())
            unauthenticated.run(treasury[:1])
        after = snapshot(h)
    assert not probe.bad, probe.bad[:10]
    assert not probe.accepted_writes, probe.accepted_writes[:10]
    assert not unauthenticated.bad and not unauthenticated.accepted_writes
    assert after == before
    assert probe.sent > 600, probe.sent
    assert elapsed < 120, f"{probe.sent} requests took {elapsed:.0f} s"
    assert_quiet(caplog.records, garbage_sent=probe.sent // 10)


# ---------------------------------------------------------------- the payee service


PAYEE_READS = {
    "Bid",
    "ReservePrice",
    "ProvePossession",
    "ChannelOpened",
    "ReportFailedPiece",
    "Watch",
}


def payee_bases(
    payer: SigningKey, ledger_id: str, info_hash: str, signers: dict[tuple[str, str], SigningKey]
) -> dict[str, tuple[Message, tuple[tuple[str, str], ...]]]:
    signers[("CooperativeCloseRequest", "payer_close")] = payer
    unknown = os.urandom(32)
    none: tuple[tuple[str, str], ...] = ()
    close = pb.CooperativeClosePayload(channel_id=unknown, cumulative=5)
    return {
        "Bid": (
            ppb.BidRequest(
                payer=payer.address,
                units_per_piece=1,  # below the reserve: refused
                peer_endpoint="127.0.0.9:6881",
                info_hash=info_hash,
            ),
            none,
        ),
        "SignRefund": (
            ppb.SignRefundRequest(
                channel_id=unknown, payer=payer.address, deposit=10, expiry=1, info_hash=info_hash
            ),
            none,
        ),
        "ChannelOpened": (ppb.ChannelOpenedRequest(channel_id=unknown, info_hash=info_hash), none),
        "Pay": (
            ppb.PaymentUpdates(
                updates=[
                    ppb.PaymentUpdate(
                        channel_id=unknown, nonce=1, cumulative=5, signature=os.urandom(65)
                    )
                ]
            ),
            none,
        ),
        "SignTopUpRefund": (
            ppb.SignTopUpRefundRequest(channel_id=unknown, new_expiry=10, sequence=1),
            none,
        ),
        "CooperativeClose": (
            ppb.CooperativeCloseRequest(payer_close=sign(payer, ledger_id, close)),
            none,
        ),
        "ReservePrice": (ppb.ReservePriceRequest(info_hash=info_hash), none),
        "ProvePossession": (
            ppb.ProvePossessionRequest(info_hash=info_hash, challenge_nonce=1, piece=0, chunk=0),
            none,
        ),
        "ReportFailedPiece": (
            ppb.FailedPieceReport(payer=payer.address, info_hash=info_hash, piece=0, bytes=1),
            none,
        ),
        "Watch": (ppb.WatchRequest(payer=payer.address, info_hash=info_hash), none),
    }


def test_payee_service_refuses_hostile_input(
    ledger: LedgerHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    payload = tmp_path / "seed" / "file.bin"
    write_test_file(payload, 256 * 1024, seed=3)
    seeder = PaidSeeder(
        "127.0.0.1",
        SigningKey.generate(),
        ledger.target,
        tmp_path / "payee.db",
        config=PaidSeederConfig(reserve=1_000),
        ledger_clock=ledger.clock,
    )
    info_hash = seeder.add(create_torrent(payload, piece_size=64 * 1024), payload.parent)
    target = seeder.start()
    payer = SigningKey.generate()
    ledger.fund(payer.address, 1_000)
    before = snapshot(ledger)
    try:
        with grpc.insecure_channel(target) as channel:
            client = ReflectionClient(channel)
            methods = client.methods()
            assert {m.name for m in methods} >= set(payee_bases(payer, "", "", {}))
            mutator = Mutator(client, ledger.ledger_id)
            bases = payee_bases(payer, ledger.ledger_id, info_hash, mutator.signers)
            probe = Probe(client, mutator, bases, PAYEE_READS)
            probe.run(methods)
    finally:
        seeder.stop(close_channels=False)
    assert not probe.bad, probe.bad[:10]
    assert not probe.accepted_writes, probe.accepted_writes[:10]
    assert snapshot(ledger) == before
    assert probe.sent > 200, probe.sent
    assert_quiet(caplog.records, garbage_sent=probe.sent // 10)
