"""The promotional faucet on SQLite and PostgreSQL, over gRPC, and through `btt faucet`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from client_sdk.funding.faucet import claim_grant
from client_sdk.ledger_client import LedgerClient, LedgerRejected
from core import hashcash
from core.clock import ManualClock
from core.crypto import SigningKey
from core.rejections import Rejected, Rejection, reason_of
from core.types import Amount
from ledger.faucet import FaucetPolicy
from ledger.rpc.server import build_service
from ledger.service import LedgerService
from tests.ledger_harness import LedgerHarness, running_ledger

GRANT = 5_000_000
POOL_KEY = SigningKey.generate()
POLICY = FaucetPolicy(
    pool=POOL_KEY.address,
    amount=Amount(GRANT),
    difficulty_bits=8,
    challenge_ttl=60,
    per_address=3,
    window=3600,
)


def fund(service: LedgerService, account: str, amount: int) -> None:
    """A bridge deposit, as `CreditDeposit` records it."""
    assert service.credit_deposit(os.urandom(32).hex(), 0, account, amount, account)[0]


def solved(service: LedgerService, account: str) -> tuple[bytes, int]:
    token, challenge = service.faucet_challenge(account)
    return token, hashcash.solve(token, challenge.difficulty_bits)


def refused(reason: Rejection, fn: object, *args: object) -> None:
    with pytest.raises(Rejected) as err:
        fn(*args)  # type: ignore[operator]
    assert err.value.reason is reason, err.value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(db_url: str, clock: ManualClock) -> Iterator[LedgerService]:
    svc = build_service(db_url, ledger_id="faucet-test", clock=clock, migrate=True, faucet=POLICY)
    fund(svc, POLICY.pool, 3 * GRANT + GRANT // 2)  # three grants and a half
    yield svc
    svc.store.dispose()


def test_grant_once_per_account_conserving_money(service: LedgerService) -> None:
    alice = SigningKey.generate().address
    token, solution = solved(service, alice)
    grant, account = service.claim_faucet(alice, token, solution, "198.51.100.1")
    assert account.balance == grant.amount == GRANT
    assert service.get_account(alice).balance == GRANT
    assert service.get_account(POLICY.pool).balance == 2 * GRANT + GRANT // 2

    # A resent claim (lost reply) answers the same grant and moves nothing.
    again, account = service.claim_faucet(alice, token, solution, "198.51.100.1")
    assert again == grant and account.balance == GRANT
    # A second claim is refused: up front, and with a challenge fetched before the grant.
    refused(Rejection.FAUCET_ALREADY_CLAIMED, service.faucet_challenge, alice)
    audit = service.audit()
    assert audit.balanced and audit.liabilities == 3 * GRANT + GRANT // 2
    kinds = [e.kind for e in service.events_after(0) if alice in e.accounts]
    assert kinds == ["faucet_grant"]


def test_stale_challenge_for_an_account_already_granted(service: LedgerService) -> None:
    alice = SigningKey.generate().address
    first, second = solved(service, alice), solved(service, alice)
    service.claim_faucet(alice, *first, "198.51.100.1")
    refused(Rejection.FAUCET_ALREADY_CLAIMED, service.claim_faucet, alice, *second, "198.51.100.2")
    assert service.get_account(alice).balance == GRANT


def test_expiry_limits_and_empty_pool_change_nothing(
    service: LedgerService, clock: ManualClock
) -> None:
    accounts = [SigningKey.generate().address for _ in range(5)]
    token, solution = solved(service, accounts[0])
    clock.advance(POLICY.challenge_ttl)
    refused(
        Rejection.FAUCET_CHALLENGE_EXPIRED, service.claim_faucet, accounts[0], token, solution, "a"
    )
    bad = next(n for n in range(999) if not hashcash.satisfies(token, n, POLICY.difficulty_bits))
    refused(Rejection.FAUCET_WORK_INSUFFICIENT, service.claim_faucet, accounts[0], token, bad, "a")

    for account in accounts[:3]:  # the per-address limit is 3 per window
        service.claim_faucet(account, *solved(service, account), "192.0.2.1")
    refused(
        Rejection.FAUCET_RATE_LIMITED,
        service.claim_faucet,
        accounts[3],
        *solved(service, accounts[3]),
        "192.0.2.1",
    )
    # Another address may claim, but the pool now holds half a grant.
    refused(
        Rejection.FAUCET_EMPTY,
        service.claim_faucet,
        accounts[3],
        *solved(service, accounts[3]),
        "192.0.2.2",
    )
    fund(service, POLICY.pool, GRANT)  # the operator tops the pool up with another deposit
    clock.advance(POLICY.window)  # and a new window lets the first address claim again
    service.claim_faucet(accounts[4], *solved(service, accounts[4]), "192.0.2.1")
    assert [service.get_account(a).balance for a in accounts] == [GRANT] * 3 + [0, GRANT]
    assert service.audit().balanced


def test_challenges_survive_a_restart_and_race_safely(db_url: str, clock: ManualClock) -> None:
    first = build_service(db_url, ledger_id="faucet-test", clock=clock, migrate=True, faucet=POLICY)
    fund(first, POLICY.pool, 10 * GRANT)
    alice = SigningKey.generate().address
    tokens = [solved(first, alice) for _ in range(6)]
    first.store.dispose()
    # Another process (or a restart) accepts challenges the first one sealed.
    second = build_service(db_url, ledger_id="faucet-test", clock=clock, faucet=POLICY)
    try:
        results: list[object] = []

        def claim(token: bytes, solution: int) -> None:
            try:
                results.append(second.claim_faucet(alice, token, solution, "203.0.113.9"))
            except Rejected as exc:
                results.append(exc.reason)

        threads = [threading.Thread(target=claim, args=t) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(Rejection.FAUCET_ALREADY_CLAIMED) == len(tokens) - 1
        assert second.get_account(alice).balance == GRANT
        assert second.audit().balanced
    finally:
        second.store.dispose()


def test_disabled_unless_configured(sqlite_url: str) -> None:
    svc = build_service(sqlite_url, migrate=True)
    try:
        alice = SigningKey.generate().address
        refused(Rejection.FAUCET_DISABLED, svc.faucet_challenge, alice)
        refused(Rejection.FAUCET_DISABLED, svc.claim_faucet, alice, b"x" * 40, 0, "a")
    finally:
        svc.store.dispose()


# ---------------------------------------------------------------- gRPC and the CLI


@pytest.fixture
def faucet_ledger(sqlite_url: str) -> Iterator[LedgerHarness]:
    policy = FaucetPolicy(
        pool=POOL_KEY.address, amount=Amount(GRANT), difficulty_bits=10, per_address=2
    )
    with running_ledger(sqlite_url, faucet=policy) as harness:
        harness.fund(POOL_KEY.address, 10 * GRANT)
        yield harness


def test_grpc_claim_status_codes(faucet_ledger: LedgerHarness) -> None:
    alice, bob, carol = (SigningKey.generate() for _ in range(3))
    with LedgerClient(faucet_ledger.target, alice) as client:
        seen: list[int] = []
        grant = claim_grant(client, on_progress=seen.append)
        assert grant.amount == grant.balance == GRANT and grant.account == alice.address
        assert seen and grant.hashes >= 1
        with pytest.raises(LedgerRejected) as err:
            claim_grant(client)
        assert err.value.reason == "FAUCET_ALREADY_CLAIMED"
        assert err.value.code is grpc.StatusCode.ALREADY_EXISTS
        assert "once per account" in str(err.value)
        claim_grant(client, bob.address)
        # Two grants from 127.0.0.1 per window: the third address is refused.
        with pytest.raises(LedgerRejected) as err:
            claim_grant(client, carol.address)
        assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.value.reason == "FAUCET_RATE_LIMITED" and "127.0.0.1" in str(err.value)
    # A plain gRPC client sees a precise status and reason for a forged challenge.
    with grpc.insecure_channel(faucet_ledger.target) as channel:
        stub = pb_grpc.LedgerStub(channel)
        forged = pb.ClaimFaucetRequest(account=carol.address, challenge=b"y" * 64, solution=1)
        with pytest.raises(grpc.RpcError) as rpc_err:
            stub.ClaimFaucet(forged, timeout=10)
        assert rpc_err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(rpc_err.value) == "FAUCET_CHALLENGE_INVALID"
    assert faucet_ledger.service.audit().balanced
    assert faucet_ledger.service.get_account(POOL_KEY.address).balance == 8 * GRANT


def test_disabled_over_grpc(ledger: LedgerHarness) -> None:
    with grpc.insecure_channel(ledger.target) as channel:
        stub = pb_grpc.LedgerStub(channel)
        request = pb.FaucetChallengeRequest(account=SigningKey.generate().address)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetFaucetChallenge(request, timeout=10)
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(err.value) == "FAUCET_DISABLED"


def test_btt_faucet_command(faucet_ledger: LedgerHarness, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BTT_LEDGER": faucet_ledger.target,
        "BTT_HOME": str(tmp_path / "home"),
        "BTT_PASSWORD": "pw",
    }

    def btt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from client_sdk.cli import main; main()", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = btt("--json", "wallet", "new")
    assert made.returncode == 0, made.stderr
    address = json.loads(made.stdout)["address"]
    first = btt("faucet")
    assert first.returncode == 0, first.stderr
    assert f"granted 5 BTT to {address}" in first.stdout and "hashes" in first.stdout
    second = btt("faucet")
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines() == [
        f"error: FAUCET_ALREADY_CLAIMED: account {address} already received its promotional "
        f"grant of {GRANT} units at {faucet_ledger.service.now()}; the faucet grants once per "
        "account"
    ]
    assert faucet_ledger.service.get_account(address).balance == GRANT
