"""The faucet's pure decisions: sealed challenges, the work, once per account, limits, the pool."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import hashcash
from core.crypto import SigningKey
from core.rejections import Rejected, Rejection
from core.types import Amount, Timestamp
from ledger import faucet
from ledger.domain import Account
from ledger.protocol import Bucket

SECRET = b"s" * 32
LEDGER = "ledger-a"
POOL = SigningKey.from_bytes(b"\x01" * 32).address
ALICE = SigningKey.from_bytes(b"\x02" * 32).address
BOB = SigningKey.from_bytes(b"\x03" * 32).address
NOW = Timestamp(1_000_000)
POLICY = faucet.FaucetPolicy(
    pool=POOL, amount=Amount(5_000_000), difficulty_bits=6, challenge_ttl=60, per_address=2
)


def issue(account: str = ALICE, *, now: Timestamp = NOW, ledger: str = LEDGER) -> bytes:
    c = faucet.issue_challenge(
        POLICY, ledger_id=ledger, account=account, earlier=None, now=now, salt=b"\x07" * 16
    )
    return faucet.seal(c, SECRET)


def claim(token: bytes, **overrides: Any) -> faucet.ClaimDecision:
    args: dict[str, Any] = {
        "ledger_id": LEDGER,
        "secret": SECRET,
        "account": ALICE,
        "token": token,
        "solution": hashcash.solve(token, POLICY.difficulty_bits),
        "client": "203.0.113.7",
        "now": NOW,
        "pool": Account(POOL, Amount(100_000_000)),
        "claimant": Account(ALICE),
        "earlier": None,
        "recent_from_client": 0,
    }
    args.update(overrides)
    policy = args.pop("policy", POLICY)
    return faucet.decide_claim(policy, **args)


def refused(reason: Rejection, fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(Rejected) as err:
        fn(*args, **kwargs)
    assert err.value.reason is reason, err.value
    return err.value.message


def test_a_solved_claim_moves_the_grant_from_the_pool() -> None:
    decision = claim(issue())
    assert not decision.repeat
    assert decision.movement is not None
    assert decision.movement.source == Bucket.account(POOL)
    assert decision.movement.target == Bucket.account(ALICE)
    assert decision.movement.amount == POLICY.amount == decision.grant.amount
    assert decision.grant.client == "203.0.113.7" and decision.grant.granted_at == NOW
    assert decision.grant.challenge_digest == faucet.challenge_digest(issue())


@settings(max_examples=50, deadline=None)
@given(
    ledger_id=st.text(min_size=1, max_size=40),
    salt=st.binary(min_size=16, max_size=16),
    expires=st.integers(0, 2**62),
    bits=st.integers(1, 40),
)
def test_seal_round_trips(ledger_id: str, salt: bytes, expires: int, bits: int) -> None:
    c = faucet.Challenge(ledger_id, ALICE, Timestamp(expires), bits, salt)
    assert faucet.unseal(faucet.seal(c, SECRET), SECRET) == c


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_tampering_is_refused(data: st.DataObject) -> None:
    token = issue()
    index = data.draw(st.integers(0, len(token) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = token[:index] + bytes([token[index] ^ flip]) + token[index + 1 :]
    refused(Rejection.FAUCET_CHALLENGE_INVALID, faucet.unseal, tampered, SECRET)
    refused(Rejection.FAUCET_CHALLENGE_INVALID, faucet.unseal, token[:index], SECRET)


def test_challenge_is_bound_to_this_ledger_its_secret_and_the_account() -> None:
    refused(Rejection.FAUCET_CHALLENGE_INVALID, faucet.unseal, issue(), b"t" * 32)
    refused(Rejection.FAUCET_CHALLENGE_INVALID, claim, issue(), account=BOB)
    refused(Rejection.FAUCET_CHALLENGE_INVALID, claim, issue(ledger="ledger-b"))
    refused(Rejection.FAUCET_CHALLENGE_INVALID, claim, b"", solution=0)


def test_the_work_is_checked() -> None:
    token = issue()
    bad = next(n for n in range(1000) if not hashcash.satisfies(token, n, POLICY.difficulty_bits))
    message = refused(Rejection.FAUCET_WORK_INSUFFICIENT, claim, token, solution=bad)
    assert "6 leading zero bits" in message


def test_challenges_expire() -> None:
    token = issue()
    claim(token, now=Timestamp(NOW + POLICY.challenge_ttl - 1))
    message = refused(
        Rejection.FAUCET_CHALLENGE_EXPIRED, claim, token, now=Timestamp(NOW + POLICY.challenge_ttl)
    )
    assert "ask for a new one" in message


def test_once_per_account_but_a_retry_of_the_granted_claim_repeats_it() -> None:
    first = issue()
    granted = claim(first).grant
    again = claim(first, earlier=granted, now=Timestamp(NOW + 10_000))  # even after expiry
    assert again.repeat and again.movement is None and again.grant == granted
    message = refused(
        Rejection.FAUCET_ALREADY_CLAIMED, claim, issue(now=Timestamp(NOW + 5)), earlier=granted
    )
    assert "once per account" in message
    refused(
        Rejection.FAUCET_ALREADY_CLAIMED,
        faucet.issue_challenge,
        POLICY,
        ledger_id=LEDGER,
        account=ALICE,
        earlier=granted,
        now=NOW,
        salt=bytes(16),
    )


def test_per_address_limit_pool_and_overflow() -> None:
    token = issue()
    claim(token, recent_from_client=POLICY.per_address - 1)
    refused(Rejection.FAUCET_RATE_LIMITED, claim, token, recent_from_client=POLICY.per_address)
    refused(Rejection.FAUCET_EMPTY, claim, token, pool=Account(POOL, Amount(POLICY.amount - 1)))
    claim(token, pool=Account(POOL, Amount(POLICY.amount)))
    refused(Rejection.AMOUNT_OVERFLOW, claim, token, claimant=Account(ALICE, Amount(2**63 - 2)))


def test_off_unless_configured_and_the_pool_cannot_claim() -> None:
    refused(Rejection.FAUCET_DISABLED, claim, issue(), policy=None)
    for account, reason in ((POOL, Rejection.SELF_TRANSFER), ("nope", Rejection.INVALID_ADDRESS)):
        refused(
            reason,
            faucet.issue_challenge,
            POLICY,
            ledger_id=LEDGER,
            account=account,
            earlier=None,
            now=NOW,
            salt=bytes(16),
        )


def test_policy_is_validated() -> None:
    for bad in (
        {"pool": "nope"},
        {"amount": Amount(0)},
        {"difficulty_bits": 0},
        {"difficulty_bits": 41},
        {"challenge_ttl": 1},
        {"per_address": 0},
    ):
        with pytest.raises(faucet.FaucetConfigError):
            dataclasses.replace(POLICY, **bad)


def test_client_key() -> None:
    assert faucet.client_key("ipv4:203.0.113.7:5123") == "203.0.113.7"
    assert faucet.client_key("ipv6:[2001:db8:1:2::9]:5123") == "2001:db8:1:2::/64"
    assert faucet.client_key("ipv6:[2001:db8:1:2:ffff::1]:80") == "2001:db8:1:2::/64"
    assert faucet.client_key("unix:/tmp/sock") == "unix"
