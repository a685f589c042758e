"""The payout decision, pure: every state, the limits, and the invariants that keep it paid once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.decide import (
    TRANSITIONS,
    Act,
    Action,
    IllegalAction,
    Limits,
    MemoSeen,
    Observation,
    PayoutRequest,
    PayoutState,
    TxSeen,
    classify,
    decide,
    payout_memo,
    withdrawal_of_memo,
)
from bridge.tron import TxStatus
from core.crypto import SigningKey

TO = SigningKey.from_bytes(bytes([0x55]) * 32).address
REQUEST = PayoutRequest(TO, 5_000)
NOW = 1_000_000
A, B, C = "a" * 64, "b" * 64, "c" * 64


def seen(*txs: TxSeen, memos: tuple[MemoSeen, ...] = (), used: int = 0) -> Observation:
    return Observation(REQUEST, txs, NOW, memos, used)


def tx(
    txid: str,
    status: TxStatus = TxStatus.UNKNOWN,
    *,
    expires: int = NOW + 1,
    refused: str = "",
    in_block: bool = False,
) -> TxSeen:
    return TxSeen(txid, expires, status, refused, in_block)


def test_a_new_withdrawal_is_signed_refused_or_held() -> None:
    assert decide(seen(), Limits()) == Action(Act.SIGN)
    assert decide(seen(), Limits(max_withdrawal=5_000)) == Action(Act.SIGN)
    assert decide(seen(), Limits(max_withdrawal=4_999)) == Action(
        Act.REFUSE, reason="over the per-withdrawal limit of 4999 units"
    )
    bad = Observation(PayoutRequest("T-not-an-address", 1), (), NOW)
    assert decide(bad, Limits()) == Action(
        Act.REFUSE, reason="not a TRON address: 'T-not-an-address'"
    )
    assert decide(seen(used=3_000), Limits(daily_limit=8_000)) == Action(Act.SIGN)
    assert decide(seen(used=3_001), Limits(daily_limit=8_000)) == Action(
        Act.HOLD, reason="daily limit reached"
    )
    assert decide(seen(used=10**9), Limits()) == Action(Act.SIGN)  # no daily limit set


def test_the_latest_tx_is_resent_until_a_solid_block_passes_its_expiration() -> None:
    assert decide(seen(tx(A, expires=NOW + 1)), Limits()) == Action(Act.BROADCAST, txid=A)
    assert decide(seen(tx(A, expires=NOW)), Limits()) == Action(Act.REPLACE, txid=A)
    assert decide(seen(tx(A, expires=NOW - 1), tx(B, expires=NOW + 1)), Limits()) == Action(
        Act.BROADCAST, txid=B
    )
    replaced = decide(seen(tx(A, expires=NOW - 5), tx(B, expires=NOW - 1)), Limits())
    assert replaced == Action(Act.REPLACE, txid=B)


def test_a_tx_in_the_pool_or_a_block_is_waited_for() -> None:
    assert decide(seen(tx(A, TxStatus.PENDING, expires=NOW - 1)), Limits()) == Action(
        Act.WAIT, txid=A
    )
    in_block = tx(A, TxStatus.PENDING, in_block=True)
    assert decide(seen(in_block), Limits()) == Action(Act.WAIT, txid=A)


def test_a_refusal_by_the_node_fails_the_withdrawal_only_after_expiry() -> None:
    refused = tx(A, expires=NOW + 1, refused="CONTRACT_VALIDATE_ERROR: no balance")
    assert classify(seen(refused)) is PayoutState.REFUSED
    assert decide(seen(refused), Limits()) == Action(Act.WAIT, txid=A)
    dead = tx(A, expires=NOW, refused="CONTRACT_VALIDATE_ERROR: no balance")
    assert decide(seen(dead), Limits()) == Action(
        Act.FAIL, txid=A, reason="payout refused by the node: CONTRACT_VALIDATE_ERROR: no balance"
    )
    # An older refused tx does not matter once a replacement is the latest.
    assert decide(seen(dead, tx(B)), Limits()) == Action(Act.BROADCAST, txid=B)


def test_receipts_decide_before_anything_else() -> None:
    ok = decide(seen(tx(A, TxStatus.FAILED), tx(B, TxStatus.SUCCESS)), Limits())
    assert ok == Action(Act.MARK_PAID, txid=B)
    failed = decide(seen(tx(A, TxStatus.FAILED), tx(B)), Limits())
    assert failed == Action(Act.FAIL, txid=A, reason=f"payout tx {A} failed on chain")


def test_memos_on_chain_count_like_recorded_txs() -> None:
    paid = MemoSeen(C, TO, 5_000, success=True)
    assert decide(seen(memos=(paid,)), Limits()) == Action(Act.MARK_PAID, txid=C)
    assert decide(seen(tx(A), memos=(paid,)), Limits(max_withdrawal=1)) == Action(
        Act.MARK_PAID, txid=C
    )
    failed = MemoSeen(C, TO, 5_000, success=False)
    assert decide(seen(memos=(failed,)), Limits()) == Action(
        Act.FAIL, txid=C, reason=f"payout tx {C} failed on chain"
    )
    other = MemoSeen(C, TO, 4_999, success=True)
    held = decide(seen(memos=(other,)), Limits())
    assert (held.act, held.txid) == (Act.HOLD, C)
    assert held.reason == (
        f"tx {C} carries this withdrawal's memo but pays 4999 to {TO}: an operator must decide"
    )
    elsewhere = MemoSeen(B, SigningKey.from_bytes(bytes([1]) * 32).address, 5_000, True)
    held = decide(seen(memos=(paid, elsewhere)), Limits())
    assert (held.act, held.txid) == (Act.HOLD, B)  # the memo that does not match is named


def test_memo_round_trip() -> None:
    assert payout_memo(42) == b"btt-withdrawal:42"
    assert withdrawal_of_memo(b"btt-withdrawal:42") == 42
    for memo in (
        b"btt:42",
        b"btt-withdrawal:",
        b"btt-withdrawal:04",
        b"btt-withdrawal:4x",
        b"btt-withdrawal:" + b"9" * 20,
        b"x-btt-withdrawal:4",
    ):
        assert withdrawal_of_memo(memo) is None
    assert withdrawal_of_memo(b"btt-withdrawal:" + b"9" * 19) == 10**19 - 1


def test_an_action_outside_the_table_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(TRANSITIONS) == set(PayoutState)
    assert all(TRANSITIONS.values())
    monkeypatch.setattr("bridge.decide._choose", lambda *_: Action(Act.SIGN))
    with pytest.raises(IllegalAction, match="sign is not allowed in state confirmed"):
        decide(seen(tx(A, TxStatus.SUCCESS)), Limits())


statuses = st.sampled_from(list(TxStatus))
txs = st.lists(
    st.builds(
        TxSeen,
        st.sampled_from([A, B, C]),
        st.integers(NOW - 3, NOW + 3),
        statuses,
        st.sampled_from(["", "refused"]),
        st.booleans(),
    ),
    max_size=4,
)
memos = st.lists(
    st.builds(MemoSeen, st.just(C), st.just(TO), st.sampled_from([5_000, 4_000]), st.booleans()),
    max_size=2,
)


@given(txs, memos, st.integers(0, 10_000), st.integers(0, 6_000), st.integers(0, 10_000))
def test_never_a_second_payout_beside_one_that_can_land(
    recorded: list[TxSeen], seen_memos: list[MemoSeen], used: int, max_w: int, daily: int
) -> None:
    obs = Observation(REQUEST, tuple(recorded), NOW, tuple(seen_memos), used)
    action = decide(obs, Limits(max_w, daily))
    assert action.act in TRANSITIONS[classify(obs)]
    succeeded = {t.txid for t in recorded if t.status is TxStatus.SUCCESS}
    succeeded |= {m.txid for m in seen_memos if m.success and m.amount == 5_000}
    latest_can_land = bool(recorded) and (
        recorded[-1].status is TxStatus.PENDING or recorded[-1].expiration > NOW
    )
    if action.act in (Act.SIGN, Act.REPLACE):
        assert not succeeded and not seen_memos
        assert not any(t.status in (TxStatus.SUCCESS, TxStatus.FAILED) for t in recorded)
        assert not latest_can_land
        assert (action.act is Act.SIGN) == (not recorded)
    if action.act in (Act.FAIL, Act.REFUSE):
        assert not succeeded
        assert action.reason
        assert action.act is Act.FAIL or not recorded
    if action.act is Act.MARK_PAID:
        assert action.txid in succeeded
    if succeeded and all(m.amount == 5_000 for m in seen_memos):
        assert action == Action(Act.MARK_PAID, txid=action.txid)
