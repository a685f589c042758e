"""Pure checks of the channel protocol: refund verification, state signatures, checkpoints."""

from __future__ import annotations

import os

import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.channel import CheckpointPolicy, PeerMisbehaved, StateVerifier, sign_state
from client_sdk.channel.payer import verify_refund
from client_sdk.p2p import PayeeServicer
from core.crypto import SigningKey
from core.envelopes import sign
from core.rejections import Rejection

LEDGER = "test-ledger"
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_refund_must_be_the_payees_for_these_terms() -> None:
    payee, other = SigningKey.generate(), SigningKey.generate()
    cid = os.urandom(32)
    good = sign(payee, LEDGER, pb.RefundPayload(channel_id=cid, expiry=1000, version=0))
    verify_refund(LEDGER, good, payee.address, cid, 1000, 0)
    with pytest.raises(PeerMisbehaved, match="not signed by the payee"):
        verify_refund(LEDGER, good, other.address, cid, 1000, 0)
    with pytest.raises(PeerMisbehaved, match="does not cover"):
        verify_refund(LEDGER, good, payee.address, cid, 999, 0)
    with pytest.raises(PeerMisbehaved, match="does not cover"):
        verify_refund(LEDGER, good, payee.address, cid, 1000, 1)
    other_ledger = sign(payee, "elsewhere", pb.RefundPayload(channel_id=cid, expiry=1000))
    with pytest.raises(PeerMisbehaved):
        verify_refund(LEDGER, other_ledger, payee.address, cid, 1000, 0)


def test_state_verifier_matches_the_ledger_rules() -> None:
    payer, mallory = SigningKey.generate(), SigningKey.generate()
    cid = os.urandom(32)
    verifier = StateVerifier(LEDGER, payer.address)
    good = sign_state(payer, LEDGER, cid, 1, 10)
    assert verifier.check(good) is None
    assert verifier.check(sign_state(payer, LEDGER, cid, 2, 20)) is None  # cached key path
    assert verifier.check(sign_state(mallory, LEDGER, cid, 3, 30)) is Rejection.WRONG_SIGNER
    # Same bytes, other ledger: the domain separation makes it another signer.
    assert verifier.check(sign_state(payer, "other", cid, 3, 30)) is Rejection.WRONG_SIGNER
    tampered = type(good)(cid, 1, 11, good.signature)
    assert verifier.check(tampered) is Rejection.WRONG_SIGNER
    # The high-s twin of a valid signature verifies mathematically; the ledger refuses it.
    s = int.from_bytes(good.signature[32:64], "big")
    high = good.signature[:32] + (_N - s).to_bytes(32, "big") + bytes([good.signature[64] ^ 1])
    assert verifier.check(type(good)(cid, 1, 10, high)) is Rejection.BAD_SIGNATURE
    assert verifier.check(type(good)(cid, 1, 10, b"\x00" * 10)) is Rejection.BAD_SIGNATURE


def test_checkpoint_policy() -> None:
    p = CheckpointPolicy(every_updates=100, every_seconds=60, value_delta=1_000)
    assert not p.due(0, 10_000, 10_000)  # nothing new to checkpoint
    assert not p.due(99, 59, 999)
    assert p.due(100, 0, 0) and p.due(1, 60, 0) and p.due(1, 0, 1_000)
    assert not CheckpointPolicy(0, 0, 0).due(10**6, 10**6, 10**6)


def test_payee_service_accepts_extra_handlers() -> None:
    servicer = PayeeServicer.__new__(PayeeServicer)

    async def reserve_price(request: object, context: object) -> None:
        return None

    servicer.register("ReservePrice", reserve_price)
    assert servicer.ReservePrice is reserve_price  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="already served"):
        servicer.register("Pay", reserve_price)
