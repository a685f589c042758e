"""The pure channel and account protocol: every transition and every rejection, with real keys.

Proofs are built the way the server builds them: a payload message is signed with
`core.envelopes.sign` and opened with `core.envelopes.open_signed`, which yields the
domain-separated digest the protocol verifies against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.message import Message

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SigningKey
from core.envelopes import open_signed, sign
from core.rejections import Rejected, Rejection
from core.signing import SignedBy, derive_channel_id
from core.status import ChannelStatus, SettleReason
from core.types import INT64_MAX, MAX_AMOUNT, Amount, Nonce, Timestamp
from ledger import protocol
from ledger.domain import Account, Channel
from ledger.protocol import (
    MAX_CHANNEL_LIFETIME,
    TRANSITIONS,
    Bucket,
    ChannelTransition,
    Movement,
    Op,
    Refund,
    StateProof,
)

LEDGER = "unit-ledger"
PAYER_KEY = SigningKey.from_bytes(b"\x11" * 32)
PAYEE_KEY = SigningKey.from_bytes(b"\x22" * 32)
OTHER_KEY = SigningKey.from_bytes(b"\x33" * 32)
PAYER = PAYER_KEY.address
PAYEE = PAYEE_KEY.address
OTHER = OTHER_KEY.address
NOW = Timestamp(1_700_000_000)
EXPIRY = NOW + 3600
WINDOW = 600
SALT = 7
CID = derive_channel_id(LEDGER, PAYER, PAYEE, SALT)
DEPOSIT = 1_000_000
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

OPEN, CLOSING, SETTLED = ChannelStatus.OPEN, ChannelStatus.CLOSING, ChannelStatus.SETTLED


# ---------------------------------------------------------------- proof builders


def proof(
    key: SigningKey,
    payload: Message,
    *,
    signed_ledger: str = LEDGER,
    opened_as: type[Message] | None = None,
) -> SignedBy:
    """Sign like a client (possibly for another ledger), open like the server on LEDGER."""
    signed = sign(key, signed_ledger, payload)
    return open_signed(LEDGER, signed, opened_as or type(payload), "test").proof


def state_proof(
    nonce: int, cumulative: int, key: SigningKey = PAYER_KEY, channel_id: bytes = CID
) -> SignedBy:
    payload = pb.ChannelStatePayload(channel_id=channel_id, nonce=nonce, cumulative=cumulative)
    return proof(key, payload)


def close_proof(nonce: int, cumulative: int, key: SigningKey = PAYEE_KEY) -> SignedBy:
    return proof(key, pb.CloseChannelPayload(channel_id=CID, nonce=nonce, cumulative=cumulative))


def coop_proof(cumulative: int, key: SigningKey) -> SignedBy:
    return proof(key, pb.CooperativeClosePayload(channel_id=CID, cumulative=cumulative))


def request_close_proof(key: SigningKey = PAYER_KEY) -> SignedBy:
    return proof(key, pb.RequestClosePayload(channel_id=CID))


def claim_proof(key: SigningKey = PAYER_KEY) -> SignedBy:
    return proof(key, pb.ClaimRefundPayload(channel_id=CID))


def make_refund(
    expiry: int = EXPIRY, version: int = 0, key: SigningKey = PAYEE_KEY, channel_id: bytes = CID
) -> Refund:
    payload = pb.RefundPayload(channel_id=channel_id, expiry=expiry, version=version)
    opened = open_signed(LEDGER, sign(key, LEDGER, payload), pb.RefundPayload, "refund")
    p = opened.payload
    return Refund(bytes(p.channel_id), p.expiry, p.version, opened.proof)


def topup_proof(
    additional: int, new_expiry: int, sequence: int, key: SigningKey = PAYER_KEY
) -> SignedBy:
    payload = pb.TopUpPayload(
        channel_id=CID, additional_deposit=additional, new_expiry=new_expiry, sequence=sequence
    )
    return proof(key, payload)


def transfer_proof(to: str, amount: int, nonce: int, key: SigningKey = PAYER_KEY) -> SignedBy:
    payload = pb.TransferPayload(
        from_account=PAYER, to_account=to, amount=amount, nonce=nonce, memo="m"
    )
    return proof(key, payload)


# ---------------------------------------------------------------- state builders


def payer_account(balance: int = 10 * DEPOSIT, nonce: int = 0) -> Account:
    return Account(PAYER, Amount(balance), Nonce(nonce))


def do_open(**overrides: Any) -> ChannelTransition:
    terms: dict[str, Any] = {
        "payer": PAYER,
        "payee": PAYEE,
        "deposit": DEPOSIT,
        "expiry": EXPIRY,
        "salt": SALT,
        "channel_id": CID,
    }
    terms.update({k: v for k, v in overrides.items() if k in terms})
    commitment_key = overrides.get("commitment_key", PAYER_KEY)
    commitment = overrides.get("commitment") or proof(
        commitment_key, pb.OpenChannelPayload(**terms)
    )
    kwargs: dict[str, Any] = {
        "ledger_id": overrides.get("ledger_id", LEDGER),
        "existing": overrides.get("existing"),
        "payer": overrides.get("payer_account", payer_account()),
        "payee": terms["payee"],
        "deposit": terms["deposit"],
        "expiry": terms["expiry"],
        "salt": terms["salt"],
        "channel_id": terms["channel_id"],
        "commitment": commitment,
        "refund": overrides.get("refund") or make_refund(terms["expiry"]),
        "now": overrides.get("now", NOW),
    }
    return protocol.open_channel(**kwargs)


_OPENED = do_open().after


def opened() -> Channel:
    return _OPENED


def with_state(channel: Channel, nonce: int, cumulative: int, now: int = NOW) -> Channel:
    t = protocol.submit_state(channel, nonce, cumulative, state_proof(nonce, cumulative), now)
    return t.after


def closing(channel: Channel | None = None, now: int = NOW) -> Channel:
    t = protocol.request_close(channel or opened(), request_close_proof(), Timestamp(now), WINDOW)
    return t.after


def settled() -> Channel:
    t = protocol.cooperative_close(
        opened(), 0, coop_proof(0, PAYER_KEY), coop_proof(0, PAYEE_KEY), NOW
    )
    return t.after


def rejects(reason: Rejection, fn: Callable[[], object]) -> Rejected:
    with pytest.raises(Rejected) as info:
        fn()
    assert info.value.reason is reason, info.value
    return info.value


def assert_settlement(t: ChannelTransition, to_payee: int) -> None:
    """Escrow in == payee out + payer out, and the movements say exactly that."""
    before, after = t.before, t.after
    assert before is not None
    assert after.status is SETTLED
    assert after.paid_to_payee == to_payee
    assert after.paid_to_payee + after.refunded_to_payer == before.deposit
    escrow = Bucket.escrow(before.channel_id)
    assert all(m.source == escrow for m in t.movements)
    assert all(m.amount > 0 for m in t.movements)
    assert sum(m.amount for m in t.movements) == before.deposit
    paid: dict[Bucket, int] = {}
    for m in t.movements:
        paid[m.target] = paid.get(m.target, 0) + m.amount
    assert paid.get(Bucket.account(PAYEE), 0) == to_payee
    assert paid.get(Bucket.account(PAYER), 0) == before.deposit - to_payee
    assert after.escrow == 0


# ---------------------------------------------------------------- transitions table


def _t_open() -> ChannelTransition:
    return do_open()


def _t_submit_open() -> ChannelTransition:
    return protocol.submit_state(opened(), 1, 10, state_proof(1, 10), NOW)


def _t_topup() -> ChannelTransition:
    return protocol.top_up(
        opened(), payer_account(), 5, 0, 1, topup_proof(5, 0, 1), None, Timestamp(NOW)
    )


def _t_request_close() -> ChannelTransition:
    return protocol.request_close(opened(), request_close_proof(), NOW, WINDOW)


def _t_payee_close(channel: Channel) -> ChannelTransition:
    return protocol.payee_close(
        channel, StateProof(3, 30, state_proof(3, 30)), 3, 30, close_proof(3, 30), NOW
    )


def _t_coop(channel: Channel) -> ChannelTransition:
    return protocol.cooperative_close(
        channel, 40, coop_proof(40, PAYER_KEY), coop_proof(40, PAYEE_KEY), NOW
    )


def _t_refund(channel: Channel) -> ChannelTransition:
    return protocol.claim_refund(channel, claim_proof(), make_refund(), Timestamp(EXPIRY))


def _t_settle_due(channel: Channel) -> ChannelTransition:
    t = protocol.settle_due(channel, Timestamp(EXPIRY))
    assert t is not None
    return t


def _t_submit_closing() -> ChannelTransition:
    return protocol.submit_state(closing(), 2, 20, state_proof(2, 20), NOW + 1)


TRANSITION_CASES: dict[str, tuple[Callable[[], ChannelTransition], tuple[Any, Any, Op]]] = {
    "open": (_t_open, (None, OPEN, Op.OPEN)),
    "submit-open": (_t_submit_open, (OPEN, OPEN, Op.SUBMIT_STATE)),
    "top-up": (_t_topup, (OPEN, OPEN, Op.TOP_UP)),
    "request-close": (_t_request_close, (OPEN, CLOSING, Op.REQUEST_CLOSE)),
    "payee-close-open": (lambda: _t_payee_close(opened()), (OPEN, SETTLED, Op.PAYEE_CLOSE)),
    "coop-open": (lambda: _t_coop(opened()), (OPEN, SETTLED, Op.COOPERATIVE_CLOSE)),
    "refund-open": (lambda: _t_refund(opened()), (OPEN, SETTLED, Op.REFUND)),
    "sweep-open": (lambda: _t_settle_due(opened()), (OPEN, SETTLED, Op.SETTLE_DUE)),
    "submit-closing": (_t_submit_closing, (CLOSING, CLOSING, Op.SUBMIT_STATE)),
    "payee-close-closing": (
        lambda: _t_payee_close(closing()),
        (CLOSING, SETTLED, Op.PAYEE_CLOSE),
    ),
    "coop-closing": (lambda: _t_coop(closing()), (CLOSING, SETTLED, Op.COOPERATIVE_CLOSE)),
    "refund-closing": (lambda: _t_refund(closing()), (CLOSING, SETTLED, Op.REFUND)),
    "sweep-closing": (lambda: _t_settle_due(closing()), (CLOSING, SETTLED, Op.SETTLE_DUE)),
}


def test_transition_cases_cover_the_whole_table() -> None:
    table = {(f, t, op) for (f, t), ops in TRANSITIONS.items() for op in ops}
    covered = {key for _, key in TRANSITION_CASES.values()}
    assert covered == table


@pytest.mark.parametrize("name", sorted(TRANSITION_CASES))
def test_every_transition(name: str) -> None:
    make, (before_status, after_status, op) = TRANSITION_CASES[name]
    t = make()
    assert (t.before.status if t.before else None) == before_status
    assert t.after.status is after_status
    assert t.op is op
    assert op in TRANSITIONS[(before_status, after_status)]
    protocol.sanity_check(t.after)
    if after_status is SETTLED:
        assert t.before is not None
        assert_settlement(t, t.after.paid_to_payee)
    elif op is Op.OPEN:
        assert t.movements == (Movement(Bucket.account(PAYER), Bucket.escrow(CID), DEPOSIT),)
    elif op is Op.TOP_UP:
        assert t.movements == (Movement(Bucket.account(PAYER), Bucket.escrow(CID), 5),)
    else:
        assert t.movements == ()


def test_illegal_transition_is_an_assertion() -> None:
    ch = opened()
    with pytest.raises(AssertionError, match="illegal transition"):
        protocol._check_transition(ch, dataclasses.replace(ch, status=CLOSING), Op.SUBMIT_STATE)
    with pytest.raises(AssertionError, match="illegal transition"):
        protocol._check_transition(None, ch, Op.TOP_UP)


def test_no_transition_leaves_settled() -> None:
    assert not [key for key in TRANSITIONS if key[0] is SETTLED]
    assert not [key for key in TRANSITIONS if key[1] is None]


# ---------------------------------------------------------------- bad signatures


def _tamper(signature: bytes, kind: str) -> bytes:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if kind == "empty":
        return b""
    if kind == "short":
        return signature[:64]
    if kind == "long":
        return signature + b"\x00"
    if kind == "high-s":
        return r.to_bytes(32, "big") + (N - s).to_bytes(32, "big") + bytes([v ^ 1])
    if kind == "recid-2":
        return signature[:64] + b"\x02"
    if kind == "recid-27":
        return signature[:64] + bytes([27 + v])
    if kind == "r-zero":
        return bytes(32) + signature[32:]
    if kind == "s-zero":
        return signature[:32] + bytes(32) + signature[64:]
    if kind == "r-n":
        return N.to_bytes(32, "big") + signature[32:]
    raise AssertionError(kind)


BAD_KINDS = ["empty", "short", "long", "high-s", "recid-2", "recid-27", "r-zero", "s-zero", "r-n"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_malformed_signature_is_bad_signature(kind: str) -> None:
    good = state_proof(1, 10)
    bad = SignedBy(good.digest, _tamper(good.signature, kind))
    assert bad.signature != good.signature
    rejects(Rejection.BAD_SIGNATURE, lambda: protocol.submit_state(opened(), 1, 10, bad, NOW))


def test_high_s_twin_would_recover_the_same_key() -> None:
    """The high-s form is a valid ECDSA signature; it is refused only for not being canonical."""
    from coincurve import PublicKey

    good = state_proof(1, 10)
    twin = _tamper(good.signature, "high-s")
    public = PublicKey.from_signature_and_message(twin, good.digest, hasher=None)
    assert public.format(compressed=False) == PAYER_KEY.public_key()
    rejects(
        Rejection.BAD_SIGNATURE,
        lambda: protocol.require_signer(SignedBy(good.digest, twin), PAYER, "x"),
    )


def test_flipped_recovery_id_is_wrong_signer() -> None:
    good = state_proof(1, 10)
    flipped = SignedBy(good.digest, good.signature[:64] + bytes([good.signature[64] ^ 1]))
    rejects(Rejection.WRONG_SIGNER, lambda: protocol.submit_state(opened(), 1, 10, flipped, NOW))


def test_right_format_wrong_key_is_wrong_signer() -> None:
    by_payee = state_proof(1, 10, key=PAYEE_KEY)
    rejects(Rejection.WRONG_SIGNER, lambda: protocol.submit_state(opened(), 1, 10, by_payee, NOW))


def test_signature_for_another_ledger_is_rejected() -> None:
    payload = pb.ChannelStatePayload(channel_id=CID, nonce=1, cumulative=10)
    foreign = proof(PAYER_KEY, payload, signed_ledger="another-ledger")
    assert foreign.signature == sign(PAYER_KEY, "another-ledger", payload).signature
    rejects(Rejection.WRONG_SIGNER, lambda: protocol.submit_state(opened(), 1, 10, foreign, NOW))


def test_signature_for_another_message_type_is_rejected() -> None:
    # RequestClosePayload and ClaimRefundPayload have the same bytes; only the type name differs.
    request = sign(PAYER_KEY, LEDGER, pb.RequestClosePayload(channel_id=CID))
    claim = sign(PAYER_KEY, LEDGER, pb.ClaimRefundPayload(channel_id=CID))
    assert request.payload == claim.payload
    assert request.signature != claim.signature
    as_claim = open_signed(LEDGER, request, pb.ClaimRefundPayload, "claim").proof
    ch = opened()
    rejects(
        Rejection.WRONG_SIGNER,
        lambda: protocol.claim_refund(ch, as_claim, make_refund(), Timestamp(EXPIRY)),
    )
    # The very same envelope is accepted for what it was signed as.
    as_request = open_signed(LEDGER, request, pb.RequestClosePayload, "request").proof
    assert protocol.request_close(ch, as_request, NOW, WINDOW).after.status is CLOSING


def test_state_signature_is_not_a_close_signature() -> None:
    # CloseChannelPayload and ChannelStatePayload share a layout; a payer state must not close.
    state = sign(PAYEE_KEY, LEDGER, pb.ChannelStatePayload(channel_id=CID, nonce=1, cumulative=1))
    as_close = open_signed(LEDGER, state, pb.CloseChannelPayload, "close").proof
    ch = with_state(opened(), 1, 1)
    rejects(Rejection.WRONG_SIGNER, lambda: protocol.payee_close(ch, None, 1, 1, as_close, NOW))


def test_signature_over_other_payload_bytes_is_rejected() -> None:
    signed = sign(PAYER_KEY, LEDGER, pb.ChannelStatePayload(channel_id=CID, nonce=1, cumulative=1))
    forged = pb.Signed(
        payload=pb.ChannelStatePayload(channel_id=CID, nonce=1, cumulative=999).SerializeToString(
            deterministic=True
        ),
        signature=signed.signature,
    )
    p = open_signed(LEDGER, forged, pb.ChannelStatePayload, "state").proof
    rejects(Rejection.WRONG_SIGNER, lambda: protocol.submit_state(opened(), 1, 999, p, NOW))


# ---------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("value", "allow_zero", "reason"),
    [
        (0, False, Rejection.INVALID_AMOUNT),
        (-1, False, Rejection.INVALID_AMOUNT),
        (-1, True, Rejection.INVALID_AMOUNT),
        (MAX_AMOUNT + 1, False, Rejection.AMOUNT_OVERFLOW),
        (MAX_AMOUNT + 1, True, Rejection.AMOUNT_OVERFLOW),
        (2**64, False, Rejection.AMOUNT_OVERFLOW),
    ],
)
def test_check_amount_rejects(value: int, allow_zero: bool, reason: Rejection) -> None:
    rejects(reason, lambda: protocol.check_amount(value, "amount", allow_zero=allow_zero))


@pytest.mark.parametrize(("value", "allow_zero"), [(1, False), (MAX_AMOUNT, False), (0, True)])
def test_check_amount_accepts(value: int, allow_zero: bool) -> None:
    assert protocol.check_amount(value, "amount", allow_zero=allow_zero) == value


@pytest.mark.parametrize(
    "junk",
    ["", "T", "hello", PAYER[:-1], PAYER + "1", PAYER[:-1] + "X", "41" + "00" * 20, PAYER.lower()],
)
def test_check_address_rejects(junk: str) -> None:
    rejects(Rejection.INVALID_ADDRESS, lambda: protocol.check_address(junk, "to"))


def test_check_address_accepts() -> None:
    assert protocol.check_address(PAYEE, "to") == PAYEE


def test_credit() -> None:
    assert protocol.credit(INT64_MAX - 5, 5, "b") == INT64_MAX
    rejects(Rejection.AMOUNT_OVERFLOW, lambda: protocol.credit(INT64_MAX - 5, 6, "b"))


# ---------------------------------------------------------------- transfer and account nonce


def test_transfer_moves_between_accounts() -> None:
    sender = payer_account(balance=100, nonce=4)
    m = protocol.transfer(sender, PAYEE, 100, 5, transfer_proof(PAYEE, 100, 5))
    assert m == Movement(Bucket.account(PAYER), Bucket.account(PAYEE), 100)
    assert sender == payer_account(balance=100, nonce=4)


def test_transfer_nonce_may_skip_ahead() -> None:
    sender = payer_account(nonce=4)
    m = protocol.transfer(sender, PAYEE, 1, 1000, transfer_proof(PAYEE, 1, 1000))
    assert m.amount == 1


TRANSFER_REJECTIONS: list[tuple[str, str, int, int, int, int, SigningKey, Rejection]] = [
    # id, to, amount, nonce, balance, last nonce, signer, reason
    ("junk-recipient", "nope", 1, 1, 10, 0, PAYER_KEY, Rejection.INVALID_ADDRESS),
    ("zero", PAYEE, 0, 1, 10, 0, PAYER_KEY, Rejection.INVALID_AMOUNT),
    ("negative", PAYEE, -1, 1, 10, 0, PAYER_KEY, Rejection.INVALID_AMOUNT),
    ("over-max", PAYEE, MAX_AMOUNT + 1, 1, 10, 0, PAYER_KEY, Rejection.AMOUNT_OVERFLOW),
    ("self", PAYER, 1, 1, 10, 0, PAYER_KEY, Rejection.SELF_TRANSFER),
    ("wrong-key", PAYEE, 1, 1, 10, 0, OTHER_KEY, Rejection.WRONG_SIGNER),
    ("nonce-zero", PAYEE, 1, 0, 10, 0, PAYER_KEY, Rejection.INVALID_NONCE),
    ("nonce-over-int64", PAYEE, 1, INT64_MAX + 1, 10, 0, PAYER_KEY, Rejection.INVALID_NONCE),
    ("replayed-nonce", PAYEE, 1, 5, 10, 5, PAYER_KEY, Rejection.NONCE_REUSED),
    ("older-nonce", PAYEE, 1, 4, 10, 5, PAYER_KEY, Rejection.NONCE_REUSED),
    ("insufficient", PAYEE, 11, 1, 10, 0, PAYER_KEY, Rejection.INSUFFICIENT_FUNDS),
]


@pytest.mark.parametrize(
    ("to", "amount", "nonce", "balance", "last", "key", "reason"),
    [case[1:] for case in TRANSFER_REJECTIONS],
    ids=[case[0] for case in TRANSFER_REJECTIONS],
)
def test_transfer_rejections(
    to: str,
    amount: int,
    nonce: int,
    balance: int,
    last: int,
    key: SigningKey,
    reason: Rejection,
) -> None:
    sender = payer_account(balance=balance, nonce=last)
    p = transfer_proof(to, max(amount, 0), max(nonce, 0) % 2**64, key)
    rejects(reason, lambda: protocol.transfer(sender, to, amount, nonce, p))


def test_transfer_bad_signature() -> None:
    p = transfer_proof(PAYEE, 1, 1)
    bad = SignedBy(p.digest, p.signature[:-1])
    rejects(Rejection.BAD_SIGNATURE, lambda: protocol.transfer(payer_account(), PAYEE, 1, 1, bad))


def test_account_nonce_bounds() -> None:
    account = payer_account(nonce=7)
    protocol.check_account_nonce(account, 8)
    protocol.check_account_nonce(payer_account(nonce=INT64_MAX - 1), INT64_MAX)
    rejects(Rejection.NONCE_REUSED, lambda: protocol.check_account_nonce(account, 7))
    rejects(Rejection.INVALID_NONCE, lambda: protocol.check_account_nonce(account, -1))


# ---------------------------------------------------------------- open


def test_open_locks_the_deposit() -> None:
    payer = payer_account()
    t = do_open(payer_account=payer)
    ch = t.after
    assert ch.channel_id == CID
    assert (ch.payer, ch.payee, ch.deposit, ch.expiry) == (PAYER, PAYEE, DEPOSIT, EXPIRY)
    assert ch.status is OPEN and ch.opened_at == NOW
    assert (ch.best_nonce, ch.best_cumulative, ch.topup_sequence) == (0, 0, 0)
    assert ch.refund_signature == make_refund().proof.signature
    assert ch.escrow == DEPOSIT
    assert payer == payer_account()


def test_open_accepts_the_lifetime_bounds() -> None:
    assert do_open(expiry=NOW + 1).after.expiry == NOW + 1
    far = NOW + MAX_CHANNEL_LIFETIME
    assert do_open(expiry=far).after.expiry == far
    assert do_open(deposit=MAX_AMOUNT, payer_account=payer_account(MAX_AMOUNT)).after.deposit == (
        MAX_AMOUNT
    )


OPEN_REJECTIONS: dict[str, tuple[dict[str, Any], Rejection]] = {
    "junk-payee": ({"payee": "Tnope"}, Rejection.INVALID_ADDRESS),
    "zero-deposit": ({"deposit": 0}, Rejection.INVALID_AMOUNT),
    "negative-deposit": ({"deposit": -5}, Rejection.INVALID_AMOUNT),
    "deposit-over-max": ({"deposit": MAX_AMOUNT + 1}, Rejection.AMOUNT_OVERFLOW),
    "self-channel": ({"payee": PAYER}, Rejection.SELF_TRANSFER),
    "id-other-salt": ({"salt": SALT + 1}, Rejection.CHANNEL_ID_MISMATCH),
    "id-other-ledger": ({"ledger_id": "other"}, Rejection.CHANNEL_ID_MISMATCH),
    "id-other-payee": (
        {"channel_id": derive_channel_id(LEDGER, PAYER, OTHER, SALT)},
        Rejection.CHANNEL_ID_MISMATCH,
    ),
    "expiry-now": ({"expiry": NOW}, Rejection.INVALID_EXPIRY),
    "expiry-past": ({"expiry": NOW - 1}, Rejection.INVALID_EXPIRY),
    "expiry-too-far": ({"expiry": NOW + MAX_CHANNEL_LIFETIME + 1}, Rejection.INVALID_EXPIRY),
    "refund-other-channel": (
        {"refund": make_refund(channel_id=b"\x01" * 32)},
        Rejection.REFUND_MISMATCH,
    ),
    "refund-other-expiry": ({"refund": make_refund(EXPIRY + 1)}, Rejection.REFUND_MISMATCH),
    "refund-version-1": ({"refund": make_refund(version=1)}, Rejection.REFUND_MISMATCH),
    "commitment-by-payee": ({"commitment_key": PAYEE_KEY}, Rejection.WRONG_SIGNER),
    "commitment-garbled": (
        {"commitment": SignedBy(b"\x00" * 32, b"\x00" * 65)},
        Rejection.BAD_SIGNATURE,
    ),
    "refund-by-payer": ({"refund": make_refund(key=PAYER_KEY)}, Rejection.WRONG_SIGNER),
    "refund-by-stranger": ({"refund": make_refund(key=OTHER_KEY)}, Rejection.WRONG_SIGNER),
    "exists": ({"existing": _OPENED}, Rejection.CHANNEL_EXISTS),
    "insufficient": ({"payer_account": payer_account(DEPOSIT - 1)}, Rejection.INSUFFICIENT_FUNDS),
}


@pytest.mark.parametrize("name", sorted(OPEN_REJECTIONS))
def test_open_rejections(name: str) -> None:
    overrides, reason = OPEN_REJECTIONS[name]
    rejects(reason, lambda: do_open(**overrides))


def test_open_commitment_for_other_ledger_is_rejected() -> None:
    payload = pb.OpenChannelPayload(
        payer=PAYER, payee=PAYEE, deposit=DEPOSIT, expiry=EXPIRY, salt=SALT, channel_id=CID
    )
    foreign = proof(PAYER_KEY, payload, signed_ledger="other")
    rejects(Rejection.WRONG_SIGNER, lambda: do_open(commitment=foreign))


# ---------------------------------------------------------------- submit state


def test_submit_keeps_the_best_state() -> None:
    ch = opened()
    t = protocol.submit_state(ch, 1, 10, state_proof(1, 10), NOW)
    assert (t.after.best_nonce, t.after.best_cumulative) == (1, 10)
    assert t.after.best_signature == state_proof(1, 10).signature
    assert ch.best_nonce == 0
    # Nonces may skip; the same cumulative at a higher nonce is fine; up to the whole deposit.
    later = protocol.submit_state(t.after, 9, 10, state_proof(9, 10), NOW).after
    full = protocol.submit_state(later, 10, DEPOSIT, state_proof(10, DEPOSIT), NOW).after
    assert (full.best_nonce, full.best_cumulative) == (10, DEPOSIT)
    top = protocol.submit_state(full, INT64_MAX, DEPOSIT, state_proof(INT64_MAX, DEPOSIT), NOW)
    assert top.after.best_nonce == INT64_MAX


def test_submit_in_closing_inside_the_window() -> None:
    ch = closing()
    t = protocol.submit_state(ch, 1, 5, state_proof(1, 5), NOW + WINDOW - 1)
    assert t.after.status is CLOSING
    assert t.after.close_deadline == ch.close_deadline == NOW + WINDOW


_CHECKPOINTED = with_state(opened(), 5, 500)

SUBMIT_REJECTIONS: dict[str, tuple[Callable[[], Channel], int, int, int, SigningKey, Rejection]] = {
    # name: (channel, nonce, cumulative, now, signer, reason)
    "settled": (settled, 1, 1, NOW, PAYER_KEY, Rejection.CHANNEL_SETTLED),
    "expired": (opened, 1, 1, EXPIRY, PAYER_KEY, Rejection.CHANNEL_EXPIRED),
    "closing-expired": (closing, 1, 1, EXPIRY, PAYER_KEY, Rejection.CHANNEL_EXPIRED),
    "challenge-over": (closing, 1, 1, NOW + WINDOW, PAYER_KEY, Rejection.CHALLENGE_OVER),
    "nonce-zero": (opened, 0, 1, NOW, PAYER_KEY, Rejection.INVALID_NONCE),
    "nonce-over-int64": (opened, INT64_MAX + 1, 1, NOW, PAYER_KEY, Rejection.INVALID_NONCE),
    "negative-cumulative": (opened, 1, -1, NOW, PAYER_KEY, Rejection.INVALID_AMOUNT),
    "cumulative-over-max": (opened, 1, MAX_AMOUNT + 1, NOW, PAYER_KEY, Rejection.AMOUNT_OVERFLOW),
    "above-deposit": (opened, 1, DEPOSIT + 1, NOW, PAYER_KEY, Rejection.EXCEEDS_DEPOSIT),
    "signed-by-payee": (opened, 1, 1, NOW, PAYEE_KEY, Rejection.WRONG_SIGNER),
    "replayed-nonce": (lambda: _CHECKPOINTED, 5, 500, NOW, PAYER_KEY, Rejection.STALE_STATE),
    "lower-nonce": (lambda: _CHECKPOINTED, 4, 600, NOW, PAYER_KEY, Rejection.STALE_STATE),
    "lower-cumulative": (
        lambda: _CHECKPOINTED,
        6,
        499,
        NOW,
        PAYER_KEY,
        Rejection.CUMULATIVE_DECREASED,
    ),
    "same-nonce-other-cumulative": (
        lambda: _CHECKPOINTED,
        5,
        600,
        NOW,
        PAYER_KEY,
        Rejection.STALE_STATE,
    ),
}


@pytest.mark.parametrize("name", sorted(SUBMIT_REJECTIONS))
def test_submit_rejections(name: str) -> None:
    make, nonce, cumulative, now, key, reason = SUBMIT_REJECTIONS[name]
    ch = make()
    snapshot = dataclasses.replace(ch)
    p = state_proof(max(nonce, 0) % 2**64, max(cumulative, 0), key)
    rejects(reason, lambda: protocol.submit_state(ch, nonce, cumulative, p, Timestamp(now)))
    assert ch == snapshot


def test_lower_state_after_a_higher_one_is_rejected() -> None:
    high = with_state(opened(), 10, 100)
    rejects(
        Rejection.STALE_STATE,
        lambda: protocol.submit_state(high, 9, 90, state_proof(9, 90), NOW),
    )
    rejects(
        Rejection.CUMULATIVE_DECREASED,
        lambda: protocol.submit_state(high, 11, 99, state_proof(11, 99), NOW),
    )


def test_submit_state_for_another_channel_is_rejected() -> None:
    other_channel = derive_channel_id(LEDGER, PAYER, PAYEE, SALT + 1)
    p = state_proof(1, 1, channel_id=other_channel)
    # The server looks the channel up by the payload's channel id; a proof moved to another
    # channel's digest does not verify, since the channel id is inside the signed bytes.
    moved = SignedBy(state_proof(1, 1).digest, p.signature)
    rejects(Rejection.WRONG_SIGNER, lambda: protocol.submit_state(opened(), 1, 1, moved, NOW))


# ---------------------------------------------------------------- payee close


def test_payee_close_with_a_fresh_state() -> None:
    ch = with_state(opened(), 2, 200)
    t = protocol.payee_close(
        ch, StateProof(3, 300, state_proof(3, 300)), 3, 300, close_proof(3, 300), NOW
    )
    assert t.after.settle_reason is SettleReason.PAYEE_CLOSE
    assert (t.after.best_nonce, t.after.best_cumulative) == (3, 300)
    assert t.after.settled_at == NOW
    assert_settlement(t, 300)


def test_payee_close_with_the_checkpointed_state_again() -> None:
    ch = with_state(opened(), 2, 200)
    t = protocol.payee_close(
        ch, StateProof(2, 200, state_proof(2, 200)), 2, 200, close_proof(2, 200), NOW
    )
    assert_settlement(t, 200)


def test_payee_close_without_state_uses_the_checkpoint() -> None:
    ch = with_state(opened(), 2, 200)
    t = protocol.payee_close(ch, None, 2, 200, close_proof(2, 200), NOW)
    assert_settlement(t, 200)


def test_payee_zero_close_returns_everything() -> None:
    t = protocol.payee_close(opened(), None, 0, 0, close_proof(0, 0), NOW)
    assert_settlement(t, 0)
    assert t.movements == (Movement(Bucket.escrow(CID), Bucket.account(PAYER), DEPOSIT),)


def test_payee_close_of_the_whole_deposit() -> None:
    st = StateProof(1, DEPOSIT, state_proof(1, DEPOSIT))
    t = protocol.payee_close(opened(), st, 1, DEPOSIT, close_proof(1, DEPOSIT), NOW)
    assert_settlement(t, DEPOSIT)
    assert t.movements == (Movement(Bucket.escrow(CID), Bucket.account(PAYEE), DEPOSIT),)


def _payee_close_case(
    make: Callable[[], Channel],
    state: tuple[int, int, SigningKey] | None,
    close: tuple[int, int, SigningKey],
    now: int = NOW,
) -> Callable[[], object]:
    def run() -> object:
        st = None if state is None else StateProof(state[0], state[1], state_proof(*state))
        return protocol.payee_close(
            make(), st, close[0], close[1], close_proof(*close), Timestamp(now)
        )

    return run


PAYEE_CLOSE_REJECTIONS: dict[str, tuple[Callable[[], object], Rejection]] = {
    "settled": (_payee_close_case(settled, None, (0, 0, PAYEE_KEY)), Rejection.CHANNEL_SETTLED),
    "expired": (
        _payee_close_case(opened, None, (0, 0, PAYEE_KEY), EXPIRY),
        Rejection.CHANNEL_EXPIRED,
    ),
    "challenge-over": (
        _payee_close_case(closing, None, (0, 0, PAYEE_KEY), NOW + WINDOW),
        Rejection.CHALLENGE_OVER,
    ),
    "close-by-payer": (
        _payee_close_case(opened, None, (0, 0, PAYER_KEY)),
        Rejection.WRONG_SIGNER,
    ),
    "state-by-payee": (
        _payee_close_case(opened, (1, 1, PAYEE_KEY), (1, 1, PAYEE_KEY)),
        Rejection.WRONG_SIGNER,
    ),
    "close-names-other-state": (
        _payee_close_case(opened, (1, 1, PAYER_KEY), (1, 2, PAYEE_KEY)),
        Rejection.PAYLOAD_MISMATCH,
    ),
    "state-above-deposit": (
        _payee_close_case(opened, (1, DEPOSIT + 1, PAYER_KEY), (1, DEPOSIT + 1, PAYEE_KEY)),
        Rejection.EXCEEDS_DEPOSIT,
    ),
    "state-older-than-checkpoint": (
        _payee_close_case(lambda: _CHECKPOINTED, (4, 400, PAYER_KEY), (4, 400, PAYEE_KEY)),
        Rejection.STALE_STATE,
    ),
    "state-same-nonce-other-amount": (
        _payee_close_case(lambda: _CHECKPOINTED, (5, 501, PAYER_KEY), (5, 501, PAYEE_KEY)),
        Rejection.CUMULATIVE_DECREASED,
    ),
    "state-lower-cumulative": (
        _payee_close_case(lambda: _CHECKPOINTED, (6, 1, PAYER_KEY), (6, 1, PAYEE_KEY)),
        Rejection.CUMULATIVE_DECREASED,
    ),
    "no-state-not-the-checkpoint": (
        _payee_close_case(lambda: _CHECKPOINTED, None, (5, 499, PAYEE_KEY)),
        Rejection.STALE_STATE,
    ),
    "no-state-below-checkpoint": (
        _payee_close_case(lambda: _CHECKPOINTED, None, (0, 0, PAYEE_KEY)),
        Rejection.STALE_STATE,
    ),
}


@pytest.mark.parametrize("name", sorted(PAYEE_CLOSE_REJECTIONS))
def test_payee_close_rejections(name: str) -> None:
    run, reason = PAYEE_CLOSE_REJECTIONS[name]
    rejects(reason, run)


# ---------------------------------------------------------------- cooperative close


@pytest.mark.parametrize("cumulative", [0, 1, 500, DEPOSIT])
def test_cooperative_close_splits_as_signed(cumulative: int) -> None:
    t = protocol.cooperative_close(
        opened(),
        cumulative,
        coop_proof(cumulative, PAYER_KEY),
        coop_proof(cumulative, PAYEE_KEY),
        NOW,
    )
    assert t.after.settle_reason is SettleReason.COOPERATIVE
    assert_settlement(t, cumulative)


def test_cooperative_close_after_expiry_is_allowed() -> None:
    t = protocol.cooperative_close(
        opened(), 3, coop_proof(3, PAYER_KEY), coop_proof(3, PAYEE_KEY), Timestamp(EXPIRY + 10)
    )
    assert_settlement(t, 3)


def test_cooperative_close_cosigned_envelope() -> None:
    from core.envelopes import cosign

    payer_env = sign(PAYER_KEY, LEDGER, pb.CooperativeClosePayload(channel_id=CID, cumulative=9))
    payee_env = cosign(PAYEE_KEY, LEDGER, payer_env, pb.CooperativeClosePayload)
    assert payee_env.payload == payer_env.payload
    a = open_signed(LEDGER, payer_env, pb.CooperativeClosePayload, "a").proof
    b = open_signed(LEDGER, payee_env, pb.CooperativeClosePayload, "b").proof
    assert a.digest == b.digest
    assert_settlement(protocol.cooperative_close(opened(), 9, a, b, NOW), 9)


COOP_REJECTIONS: dict[str, tuple[Callable[[], Channel], int, SigningKey, SigningKey, Rejection]] = {
    "settled": (settled, 0, PAYER_KEY, PAYEE_KEY, Rejection.CHANNEL_SETTLED),
    "negative": (opened, -1, PAYER_KEY, PAYEE_KEY, Rejection.INVALID_AMOUNT),
    "over-max": (opened, MAX_AMOUNT + 1, PAYER_KEY, PAYEE_KEY, Rejection.AMOUNT_OVERFLOW),
    "above-deposit": (opened, DEPOSIT + 1, PAYER_KEY, PAYEE_KEY, Rejection.EXCEEDS_DEPOSIT),
    "payer-part-by-payee": (opened, 1, PAYEE_KEY, PAYEE_KEY, Rejection.WRONG_SIGNER),
    "payee-part-by-payer": (opened, 1, PAYER_KEY, PAYER_KEY, Rejection.WRONG_SIGNER),
    "swapped": (opened, 1, PAYEE_KEY, PAYER_KEY, Rejection.WRONG_SIGNER),
    "below-checkpoint": (
        lambda: _CHECKPOINTED,
        499,
        PAYER_KEY,
        PAYEE_KEY,
        Rejection.CUMULATIVE_DECREASED,
    ),
}


@pytest.mark.parametrize("name", sorted(COOP_REJECTIONS))
def test_cooperative_close_rejections(name: str) -> None:
    make, cumulative, payer_key, payee_key, reason = COOP_REJECTIONS[name]
    c = max(cumulative, 0)
    a, b = coop_proof(c, payer_key), coop_proof(c, payee_key)
    rejects(reason, lambda: protocol.cooperative_close(make(), cumulative, a, b, NOW))


# ---------------------------------------------------------------- request close


def test_request_close_opens_the_challenge_window() -> None:
    t = protocol.request_close(opened(), request_close_proof(), Timestamp(NOW + 5), WINDOW)
    assert t.after.status is CLOSING
    assert t.after.close_deadline == NOW + 5 + WINDOW
    assert protocol.due_at(t.after) == NOW + 5 + WINDOW


@pytest.mark.parametrize(
    ("make", "now", "key", "reason"),
    [
        (closing, NOW, PAYER_KEY, Rejection.CHANNEL_NOT_OPEN),
        (settled, NOW, PAYER_KEY, Rejection.CHANNEL_NOT_OPEN),
        (opened, EXPIRY, PAYER_KEY, Rejection.CHANNEL_EXPIRED),
        (opened, NOW, PAYEE_KEY, Rejection.WRONG_SIGNER),
    ],
    ids=["closing", "settled", "expired", "by-payee"],
)
def test_request_close_rejections(
    make: Callable[[], Channel], now: int, key: SigningKey, reason: Rejection
) -> None:
    p = request_close_proof(key)
    rejects(reason, lambda: protocol.request_close(make(), p, Timestamp(now), WINDOW))


# ---------------------------------------------------------------- refund


def test_refund_after_expiry_returns_the_rest() -> None:
    t = protocol.claim_refund(opened(), claim_proof(), make_refund(), Timestamp(EXPIRY))
    assert t.after.settle_reason is SettleReason.REFUND
    assert_settlement(t, 0)


def test_refund_honours_the_checkpoint() -> None:
    t = protocol.claim_refund(_CHECKPOINTED, claim_proof(), make_refund(), Timestamp(EXPIRY + 1))
    assert_settlement(t, 500)


def test_refund_from_closing_after_expiry() -> None:
    ch = with_state(closing(), 1, 7, now=NOW + 1)
    t = protocol.claim_refund(ch, claim_proof(), make_refund(), Timestamp(EXPIRY))
    assert_settlement(t, 7)


REFUND_REJECTIONS: dict[str, tuple[Callable[[], Channel], SigningKey, Refund, int, Rejection]] = {
    "settled": (settled, PAYER_KEY, make_refund(), EXPIRY, Rejection.CHANNEL_SETTLED),
    "claim-by-payee": (opened, PAYEE_KEY, make_refund(), EXPIRY, Rejection.WRONG_SIGNER),
    "other-channel": (
        opened,
        PAYER_KEY,
        make_refund(channel_id=bytes(32)),
        EXPIRY,
        Rejection.REFUND_MISMATCH,
    ),
    "other-expiry": (
        opened,
        PAYER_KEY,
        make_refund(EXPIRY - 1),
        EXPIRY,
        Rejection.REFUND_MISMATCH,
    ),
    "refund-by-payer": (
        opened,
        PAYER_KEY,
        make_refund(key=PAYER_KEY),
        EXPIRY,
        Rejection.WRONG_SIGNER,
    ),
    "before-expiry": (opened, PAYER_KEY, make_refund(), EXPIRY - 1, Rejection.NOT_YET_EXPIRED),
    "closing-before-expiry": (
        closing,
        PAYER_KEY,
        make_refund(),
        NOW + WINDOW + 1,
        Rejection.NOT_YET_EXPIRED,
    ),
}


@pytest.mark.parametrize("name", sorted(REFUND_REJECTIONS))
def test_refund_rejections(name: str) -> None:
    make, key, refund, now, reason = REFUND_REJECTIONS[name]
    claim = claim_proof(key)
    rejects(reason, lambda: protocol.claim_refund(make(), claim, refund, Timestamp(now)))


def test_refund_with_the_superseded_refund_after_extension() -> None:
    new_expiry = EXPIRY + 100
    ext = protocol.top_up(
        opened(),
        payer_account(),
        0,
        new_expiry,
        1,
        topup_proof(0, new_expiry, 1),
        make_refund(new_expiry, 1),
        NOW,
    ).after
    old = make_refund()
    rejects(
        Rejection.REFUND_MISMATCH,
        lambda: protocol.claim_refund(ext, claim_proof(), old, Timestamp(new_expiry)),
    )
    rejects(
        Rejection.NOT_YET_EXPIRED,
        lambda: protocol.claim_refund(
            ext, claim_proof(), make_refund(new_expiry, 1), Timestamp(EXPIRY)
        ),
    )
    t = protocol.claim_refund(ext, claim_proof(), make_refund(new_expiry, 1), Timestamp(new_expiry))
    assert_settlement(t, 0)


# ---------------------------------------------------------------- top-up


def test_top_up_deposit_only_needs_no_refund() -> None:
    ch = with_state(opened(), 1, 10)
    t = protocol.top_up(ch, payer_account(), 500, 0, 1, topup_proof(500, 0, 1), None, NOW)
    after = t.after
    assert after.deposit == DEPOSIT + 500 and after.expiry == EXPIRY
    assert after.topup_sequence == 1
    assert after.refund_signature == ch.refund_signature
    assert (after.best_nonce, after.best_cumulative) == (1, 10)
    assert t.movements == (Movement(Bucket.account(PAYER), Bucket.escrow(CID), 500),)
    # The same expiry named explicitly is still "no move".
    again = protocol.top_up(
        after, payer_account(), 1, EXPIRY, 2, topup_proof(1, EXPIRY, 2), None, NOW
    )
    assert again.after.topup_sequence == 2


def test_top_up_extending_takes_the_new_refund() -> None:
    new_expiry = EXPIRY + 3600
    refund = make_refund(new_expiry, 1)
    t = protocol.top_up(
        opened(), payer_account(), 0, new_expiry, 1, topup_proof(0, new_expiry, 1), refund, NOW
    )
    assert t.after.expiry == new_expiry and t.after.deposit == DEPOSIT
    assert t.after.refund_signature == refund.proof.signature
    assert t.movements == ()
    assert protocol.due_at(t.after) == new_expiry


def _top_up_case(
    make: Callable[[], Channel],
    additional: int,
    new_expiry: int,
    sequence: int,
    *,
    refund: Refund | None = None,
    key: SigningKey = PAYER_KEY,
    balance: int = 10 * DEPOSIT,
    now: int = NOW,
) -> Callable[[], object]:
    p = topup_proof(max(additional, 0), max(new_expiry, 0), sequence, key)

    def run() -> object:
        return protocol.top_up(
            make(), payer_account(balance), additional, new_expiry, sequence, p, refund, now
        )

    return run


LATER = EXPIRY + 3600
TOP_UP_REJECTIONS: dict[str, tuple[Callable[[], object], Rejection]] = {
    "closing": (_top_up_case(closing, 1, 0, 1), Rejection.CHANNEL_NOT_OPEN),
    "settled": (_top_up_case(settled, 1, 0, 1), Rejection.CHANNEL_NOT_OPEN),
    "expired": (_top_up_case(opened, 1, 0, 1, now=EXPIRY), Rejection.CHANNEL_EXPIRED),
    "negative": (_top_up_case(opened, -1, 0, 1), Rejection.INVALID_AMOUNT),
    "over-max": (_top_up_case(opened, MAX_AMOUNT + 1, 0, 1), Rejection.AMOUNT_OVERFLOW),
    "earlier-expiry": (_top_up_case(opened, 1, EXPIRY - 1, 1), Rejection.INVALID_EXPIRY),
    "negative-expiry": (_top_up_case(opened, 1, -1, 1), Rejection.INVALID_EXPIRY),
    "expiry-too-far": (
        _top_up_case(opened, 1, NOW + MAX_CHANNEL_LIFETIME + 1, 1),
        Rejection.INVALID_EXPIRY,
    ),
    "nothing": (_top_up_case(opened, 0, 0, 1), Rejection.NOTHING_TO_CHANGE),
    "nothing-same-expiry": (_top_up_case(opened, 0, EXPIRY, 1), Rejection.NOTHING_TO_CHANGE),
    "by-payee": (_top_up_case(opened, 1, 0, 1, key=PAYEE_KEY), Rejection.WRONG_SIGNER),
    "sequence-replayed": (_top_up_case(opened, 1, 0, 0), Rejection.WRONG_SEQUENCE),
    "sequence-skipped": (_top_up_case(opened, 1, 0, 2), Rejection.WRONG_SEQUENCE),
    "needs-refund": (_top_up_case(opened, 0, LATER, 1), Rejection.REFUND_MISMATCH),
    "refund-old-expiry": (
        _top_up_case(opened, 0, LATER, 1, refund=make_refund(EXPIRY, 1)),
        Rejection.REFUND_MISMATCH,
    ),
    "refund-wrong-version": (
        _top_up_case(opened, 0, LATER, 1, refund=make_refund(LATER, 0)),
        Rejection.REFUND_MISMATCH,
    ),
    "refund-other-channel": (
        _top_up_case(opened, 0, LATER, 1, refund=make_refund(LATER, 1, channel_id=bytes(32))),
        Rejection.REFUND_MISMATCH,
    ),
    "refund-by-payer": (
        _top_up_case(opened, 0, LATER, 1, refund=make_refund(LATER, 1, key=PAYER_KEY)),
        Rejection.WRONG_SIGNER,
    ),
    "insufficient": (_top_up_case(opened, 11, 0, 1, balance=10), Rejection.INSUFFICIENT_FUNDS),
}


@pytest.mark.parametrize("name", sorted(TOP_UP_REJECTIONS))
def test_top_up_rejections(name: str) -> None:
    run, reason = TOP_UP_REJECTIONS[name]
    rejects(reason, run)


def test_top_up_past_the_deposit_bound_is_a_rejection() -> None:
    rich = payer_account(5 * MAX_AMOUNT)
    ch = do_open(deposit=MAX_AMOUNT - 1, payer_account=rich).after
    ch = protocol.top_up(ch, rich, 1, 0, 1, topup_proof(1, 0, 1), None, NOW).after
    assert ch.deposit == MAX_AMOUNT
    rejects(
        Rejection.AMOUNT_OVERFLOW,
        lambda: protocol.top_up(ch, rich, 1, 0, 2, topup_proof(1, 0, 2), None, NOW),
    )


def test_the_whole_deposit_stays_payable_after_top_up() -> None:
    rich = payer_account(3 * MAX_AMOUNT)
    ch = do_open(deposit=MAX_AMOUNT - 1, payer_account=rich).after
    ch = protocol.top_up(ch, rich, 1, 0, 1, topup_proof(1, 0, 1), None, NOW).after
    full = ch.deposit
    assert full == MAX_AMOUNT
    t = protocol.submit_state(ch, 1, full, state_proof(1, full), NOW)
    assert t.after.best_cumulative == full


# ---------------------------------------------------------------- settle_due (sweeper)


def test_settle_due_open_channel() -> None:
    ch = _CHECKPOINTED
    assert protocol.due_at(ch) == EXPIRY
    assert protocol.settle_due(ch, Timestamp(EXPIRY - 1)) is None
    t = protocol.settle_due(ch, Timestamp(EXPIRY))
    assert t is not None and t.op is Op.SETTLE_DUE
    assert t.after.settle_reason is SettleReason.SWEPT
    assert t.after.settled_at == EXPIRY
    assert_settlement(t, 500)


def test_settle_due_closing_after_the_deadline() -> None:
    ch = with_state(closing(), 3, 30, now=NOW + 1)
    deadline = NOW + WINDOW
    assert protocol.due_at(ch) == deadline
    assert protocol.settle_due(ch, Timestamp(deadline - 1)) is None
    t = protocol.settle_due(ch, Timestamp(deadline))
    assert t is not None
    assert t.after.settle_reason is SettleReason.CHALLENGE_EXPIRED
    assert_settlement(t, 30)


def test_settle_due_closing_when_expiry_comes_first() -> None:
    ch = closing(now=EXPIRY - 10)
    assert ch.close_deadline > ch.expiry
    assert protocol.due_at(ch) == EXPIRY
    assert protocol.settle_due(ch, Timestamp(EXPIRY - 1)) is None
    t = protocol.settle_due(ch, Timestamp(EXPIRY))
    assert t is not None
    assert t.after.settle_reason is SettleReason.CHALLENGE_EXPIRED
    assert_settlement(t, 0)


def test_settle_due_leaves_settled_alone() -> None:
    ch = settled()
    assert protocol.due_at(ch) is None
    assert protocol.settle_due(ch, Timestamp(EXPIRY + 10**6)) is None


# ---------------------------------------------------------------- immutability


def test_states_are_frozen() -> None:
    ch = opened()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ch.deposit = Amount(1)  # type: ignore[misc]
    account = payer_account()
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.balance = Amount(1)  # type: ignore[misc]
    t = do_open()
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.after = ch  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(TRANSITION_CASES))
def test_transitions_do_not_touch_their_inputs(name: str) -> None:
    make = TRANSITION_CASES[name][0]
    snapshot_open = dataclasses.replace(_OPENED)
    snapshot_checkpointed = dataclasses.replace(_CHECKPOINTED)
    t = make()
    assert snapshot_open == _OPENED
    assert snapshot_checkpointed == _CHECKPOINTED
    if t.before is not None:
        assert t.before is not t.after
        assert t.before != t.after


def test_sanity_check_catches_broken_channels() -> None:
    ch = _CHECKPOINTED
    for broken in (
        dataclasses.replace(ch, best_cumulative=Amount(ch.deposit + 1)),
        dataclasses.replace(ch, deposit=Amount(0)),
        dataclasses.replace(ch, paid_to_payee=Amount(1)),
        dataclasses.replace(
            ch,
            status=SETTLED,
            paid_to_payee=Amount(499),
            refunded_to_payer=Amount(ch.deposit - 499),
            settle_reason=SettleReason.REFUND,
        ),
        dataclasses.replace(
            ch, status=SETTLED, paid_to_payee=Amount(500), settle_reason=SettleReason.REFUND
        ),
    ):
        with pytest.raises(AssertionError):
            protocol.sanity_check(broken)


def test_payee_close_reports_the_channel_it_was_given_as_before() -> None:
    ch = with_state(opened(), 2, 200)
    t = protocol.payee_close(
        ch, StateProof(3, 300, state_proof(3, 300)), 3, 300, close_proof(3, 300), NOW
    )
    assert t.after.best_nonce == 3
    assert t.before == ch
    assert t.before is not None and t.before.best_nonce == 2
