"""The payee refuses to sign a refund for exactly the terms the ledger would refuse to open."""

from __future__ import annotations

import dataclasses

import pytest

from client_sdk.channel import TermsRefused
from core.crypto import SigningKey
from core.rejections import Rejected
from core.signing import derive_channel_id
from core.terms import OpenTerms, check_open_terms
from core.types import MAX_AMOUNT, UINT64_MAX
from tests.sdk.conftest import PayeeNode

BAD_TERMS = {
    "payer-not-an-address": {"payer": "Tjunk"},
    "payer-is-payee": {"payer": None},
    "deposit-over-max": {"deposit": MAX_AMOUNT + 1},
    "salt-over-u64": {"salt": UINT64_MAX + 1},
    "id-not-derived": {"channel_id": b"\x07" * 32},
}


@pytest.mark.parametrize("case", sorted(BAD_TERMS))
async def test_payee_refuses_what_the_shared_check_refuses(payee: PayeeNode, case: str) -> None:
    book = payee.book
    payer = SigningKey.generate().address
    good = OpenTerms(
        book.ledger_id,
        payer,
        book.address,
        book.terms.suggested_deposit,
        book.now() + book.terms.lifetime,
        9,
        derive_channel_id(book.ledger_id, payer, book.address, 9),
    )
    changes = {k: (book.address if v is None else v) for k, v in BAD_TERMS[case].items()}
    bad = dataclasses.replace(good, **changes)  # type: ignore[arg-type]
    with pytest.raises(Rejected) as shared:
        check_open_terms(bad)
    with pytest.raises(TermsRefused) as refused:
        book.sign_refund(
            channel_id=bad.channel_id,
            payer=bad.payer,
            deposit=bad.deposit,
            expiry=bad.expiry,
            salt=bad.salt,
            rate=1,
            info_hash="ab" * 20,
        )
    assert str(refused.value) == shared.value.message
    assert (
        book.store.proposal(bad.channel_id) is None and book.store.proposal(good.channel_id) is None
    )
    # The good terms are signed.
    assert book.sign_refund(
        channel_id=good.channel_id,
        payer=good.payer,
        deposit=good.deposit,
        expiry=good.expiry,
        salt=good.salt,
        rate=1,
        info_hash="ab" * 20,
    ).signature
