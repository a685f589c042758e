"""The shared open-terms check: every reason, its bounds, and the ledger giving the same answer."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SigningKey
from core.envelopes import open_signed, sign
from core.rejections import Rejected, Rejection
from core.signing import derive_channel_id
from core.terms import MAX_CHANNEL_LIFETIME, OpenTerms, check_expiry, check_open_terms
from core.types import MAX_AMOUNT, UINT64_MAX, Amount, Timestamp
from ledger import protocol
from ledger.domain import Account

LEDGER = "terms-ledger"
PAYER = SigningKey.from_bytes(b"\x61" * 32)
PAYEE = SigningKey.from_bytes(b"\x62" * 32)
NOW = Timestamp(1_700_000_000)


def terms(salt: int = 5, **changes: object) -> OpenTerms:
    base = OpenTerms(
        LEDGER,
        PAYER.address,
        PAYEE.address,
        1_000,
        NOW + 3600,
        salt,
        derive_channel_id(LEDGER, PAYER.address, PAYEE.address, salt),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def reason_of(call: object) -> Rejection | None:
    try:
        call()  # type: ignore[operator]
    except Rejected as exc:
        return exc.reason
    return None


@pytest.mark.parametrize("salt", [0, 127, 128, 2**63, UINT64_MAX])
def test_every_unsigned_64_bit_salt_is_accepted(salt: int) -> None:
    assert check_open_terms(terms(salt)) == 1_000


def test_deposit_bounds_are_inclusive() -> None:
    assert check_open_terms(terms(deposit=1)) == 1
    assert check_open_terms(terms(deposit=MAX_AMOUNT)) == MAX_AMOUNT


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"payer": "Tnot-an-address"}, Rejection.INVALID_ADDRESS),
        ({"payee": "junk"}, Rejection.INVALID_ADDRESS),
        ({"deposit": 0}, Rejection.INVALID_AMOUNT),
        ({"deposit": -1}, Rejection.INVALID_AMOUNT),
        ({"deposit": MAX_AMOUNT + 1}, Rejection.AMOUNT_OVERFLOW),
        ({"payee": PAYER.address}, Rejection.SELF_TRANSFER),
        ({"salt": -1}, Rejection.MALFORMED),
        ({"salt": UINT64_MAX + 1}, Rejection.MALFORMED),
        ({"channel_id": b"\x00" * 32}, Rejection.CHANNEL_ID_MISMATCH),
        ({"ledger_id": "another-ledger"}, Rejection.CHANNEL_ID_MISMATCH),
    ],
    ids=lambda v: str(v) if isinstance(v, Rejection) else "-".join(map(str, v)),
)
def test_bad_terms_are_refused_with_their_reason(
    changes: dict[str, object], reason: Rejection
) -> None:
    bad = dataclasses.replace(terms(), **changes)  # type: ignore[arg-type]
    assert reason_of(lambda: check_open_terms(bad)) is reason


def test_expiry_bounds() -> None:
    check_expiry(NOW + 1, NOW)
    check_expiry(NOW + MAX_CHANNEL_LIFETIME, NOW)
    for bad in (NOW, NOW - 1, NOW + MAX_CHANNEL_LIFETIME + 1):
        assert reason_of(lambda bad=bad: check_expiry(bad, NOW)) is Rejection.INVALID_EXPIRY


def _ledger_open(t: OpenTerms) -> Rejection | None:
    """The ledger's whole decision on an open with these terms and valid signatures."""
    commitment = pb.OpenChannelPayload(channel_id=t.channel_id)
    refund = pb.RefundPayload(channel_id=t.channel_id, expiry=t.expiry, version=0)
    opened_refund = open_signed(LEDGER, sign(PAYEE, LEDGER, refund), pb.RefundPayload, "r")
    return reason_of(
        lambda: protocol.open_channel(
            ledger_id=t.ledger_id,
            existing=None,
            payer=Account(t.payer, Amount(MAX_AMOUNT)),
            payee=t.payee,
            deposit=t.deposit,
            expiry=t.expiry,
            salt=t.salt,
            channel_id=t.channel_id,
            commitment=open_signed(
                LEDGER, sign(PAYER, LEDGER, commitment), pb.OpenChannelPayload, "c"
            ).proof,
            refund=protocol.Refund(bytes(t.channel_id), t.expiry, 0, opened_refund.proof),
            now=NOW,
        )
    )


@given(
    deposit=st.integers(-1, MAX_AMOUNT + 1),
    salt=st.integers(-1, UINT64_MAX + 1),
    derived=st.booleans(),
    self_open=st.booleans(),
)
def test_the_ledger_refuses_exactly_what_the_shared_check_refuses(
    deposit: int, salt: int, derived: bool, self_open: bool
) -> None:
    payee = PAYER.address if self_open else PAYEE.address
    cid = (
        derive_channel_id(LEDGER, PAYER.address, payee, salt)
        if derived and 0 <= salt <= UINT64_MAX
        else b"\x01" * 32
    )
    t = dataclasses.replace(terms(), deposit=deposit, salt=salt, payee=payee, channel_id=cid)
    assert _ledger_open(t) is reason_of(lambda: check_open_terms(t))
