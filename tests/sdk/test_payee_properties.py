"""Whatever a payer sends, the payee's kept state only moves forward and stays redeemable."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk.channel import PayeeChannel, PayeeReason, SignedState, sign_state
from client_sdk.channel.store import PayeeRecord
from core.crypto import SigningKey, signed_by
from core.signing import signing_digest

LEDGER = "prop-ledger"
PAYER, MALLORY = SigningKey.generate(), SigningKey.generate()
CID = os.urandom(32)
DEPOSIT = 1_000

updates = st.lists(
    st.tuples(
        st.integers(1, 12),  # nonce
        st.integers(0, DEPOSIT + 50),  # cumulative
        st.booleans(),  # signed by the payer (else by someone else)
        st.integers(0, 2),  # pieces delivered before it
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None)
@given(updates)
def test_best_state_only_moves_forward(sequence: list[tuple[int, int, bool, int]]) -> None:
    record = PayeeRecord(CID, PAYER.address, DEPOSIT, 10**10, 10, "00", "127.0.0.1:1")
    channel = PayeeChannel(record, LEDGER, credit_pieces=1)
    for nonce, cumulative, honest, pieces in sequence:
        channel.delivered(pieces)
        before = channel.record
        state = sign_state(PAYER if honest else MALLORY, LEDGER, CID, nonce, cumulative)
        verdict = channel.evaluate(state)
        if verdict.record is None:
            assert verdict.reason is not None and verdict.reason != PayeeReason.UNDERPAID
            continue
        channel.record = verdict.record
        after = channel.record
        assert after.best_nonce > before.best_nonce
        assert before.best_cumulative <= after.best_cumulative <= DEPOSIT
        assert honest  # nothing the payer did not sign is ever kept
        assert (verdict.reason is PayeeReason.UNDERPAID) == (cumulative < channel.required)
        kept = after.best_state()
        assert isinstance(kept, SignedState)
        digest = signing_digest(LEDGER, "ChannelStatePayload", kept.payload())
        assert signed_by(digest, kept.signature, PAYER.address)  # the ledger will take it
