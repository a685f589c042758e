"""Protocol edges the mutation run showed no test noticing: exact bounds and recorded fields."""

from __future__ import annotations

import pytest

from core.rejections import Rejection
from core.signing import derive_channel_id
from core.status import SettleReason
from core.types import INT64_MAX, UINT64_MAX, Timestamp
from ledger import protocol
from ledger.protocol import CHAIN_DEPOSITS, CHAIN_WITHDRAWALS, Bucket, Movement
from tests.unit.test_protocol import (
    CID,
    DEPOSIT,
    EXPIRY,
    LEDGER,
    NOW,
    PAYEE,
    PAYEE_KEY,
    PAYER,
    PAYER_KEY,
    assert_settlement,
    claim_proof,
    coop_proof,
    do_open,
    make_refund,
    opened,
    payer_account,
    rejects,
    state_proof,
    topup_proof,
)


def test_top_up_of_exactly_the_whole_balance_is_accepted() -> None:
    account = payer_account(balance=250)
    t = protocol.top_up(opened(), account, 250, 0, 1, topup_proof(250, 0, 1), None, NOW)
    assert t.after.deposit == DEPOSIT + 250
    assert t.movements == (Movement(Bucket.account(PAYER), Bucket.escrow(CID), 250),)  # type: ignore[arg-type]
    rejects(
        Rejection.INSUFFICIENT_FUNDS,
        lambda: protocol.top_up(opened(), account, 251, 0, 1, topup_proof(251, 0, 1), None, NOW),
    )


def test_open_with_exactly_the_whole_balance_is_accepted() -> None:
    t = do_open(payer_account=payer_account(balance=DEPOSIT))
    assert t.after.deposit == DEPOSIT
    rejects(Rejection.INSUFFICIENT_FUNDS, lambda: do_open(payer_account=payer_account(DEPOSIT - 1)))


def test_a_state_with_cumulative_zero_is_a_valid_first_state() -> None:
    t = protocol.submit_state(opened(), 1, 0, state_proof(1, 0), NOW)
    assert (t.after.best_nonce, t.after.best_cumulative) == (1, 0)


@pytest.mark.parametrize("salt", [0, 127, 128, 2**63, UINT64_MAX])
def test_every_64_bit_salt_opens_a_channel(salt: int) -> None:
    cid = derive_channel_id(LEDGER, PAYER, PAYEE, salt)
    t = do_open(salt=salt, channel_id=cid, refund=make_refund(channel_id=cid))
    assert t.after.channel_id == cid


def test_a_salt_past_64_bits_is_malformed() -> None:
    salt = UINT64_MAX + 1
    cid = derive_channel_id(LEDGER, PAYER, PAYEE, salt % 2**64)
    rejects(
        Rejection.MALFORMED,
        lambda: do_open(
            salt=salt,
            channel_id=cid,
            refund=make_refund(channel_id=cid),
            commitment=state_proof(1, 0),  # never reached: the terms are refused first
        ),
    )


def test_cooperative_close_records_when_it_settled() -> None:
    at = Timestamp(NOW + 42)
    t = protocol.cooperative_close(
        opened(), 10, coop_proof(10, PAYER_KEY), coop_proof(10, PAYEE_KEY), at
    )
    assert t.after.settled_at == at
    assert t.after.settle_reason is SettleReason.COOPERATIVE
    assert_settlement(t, 10)


def test_refund_records_when_it_settled() -> None:
    at = Timestamp(EXPIRY + 5)
    t = protocol.claim_refund(opened(), claim_proof(), make_refund(), at)
    assert t.after.settled_at == at
    assert t.after.settle_reason is SettleReason.REFUND


def test_the_bucket_kinds_are_pinned() -> None:
    # Stored journal rows carry these strings: renaming one would orphan every existing row.
    assert Bucket.account("a1") == Bucket("account", "a1")
    assert Bucket.escrow(b"\x01\xff") == Bucket("escrow", "01ff")
    assert Bucket.pending(7) == Bucket("pending", "7")
    assert Bucket("chain", "deposits") == CHAIN_DEPOSITS
    assert Bucket("chain", "withdrawals") == CHAIN_WITHDRAWALS
    assert len({Bucket.account("x"), Bucket.escrow(b"x"), Bucket.pending(1)}) == 3


def test_a_channel_lives_at_most_366_days() -> None:
    # Written as a figure: the tests that import the constant cannot notice it changing.
    assert protocol.MAX_CHANNEL_LIFETIME == 31_622_400
    do_open(expiry=NOW + 31_622_400, refund=make_refund(NOW + 31_622_400))
    rejects(
        Rejection.INVALID_EXPIRY,
        lambda: do_open(expiry=NOW + 31_622_401, refund=make_refund(NOW + 31_622_401)),
    )


def test_an_id_may_be_the_largest_signed_64_bit_value() -> None:
    assert protocol.check_id(INT64_MAX, "id") == INT64_MAX
    rejects(Rejection.MALFORMED, lambda: protocol.check_id(INT64_MAX + 1, "id"))


def test_deposits_credited_in_all_stay_a_signed_64_bit_total() -> None:
    protocol.check_supply(0, INT64_MAX - 5, 5)
    rejects(Rejection.AMOUNT_OVERFLOW, lambda: protocol.check_supply(0, INT64_MAX - 5, 6))
