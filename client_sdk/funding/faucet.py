"""Claim the ledger's promotional grant: fetch a challenge, solve the proof of work, claim.

The work is hashcash (`core.hashcash`); the ledger checks it with one hash. A challenge that
expires while it is being solved is replaced by a fresh one, a few times at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.ledger_client import LedgerClient, LedgerRejected
from core import hashcash
from core.rejections import Rejection

MAX_CHALLENGES = 3


@dataclass(frozen=True)
class FaucetGrant:
    account: str
    amount: int
    balance: int
    granted_at: int
    hashes: int
    seconds: float


def claim_grant(
    client: LedgerClient,
    account: str | None = None,
    *,
    on_challenge: Callable[[pb.FaucetChallenge], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> FaucetGrant:
    """Solve and claim; raises `LedgerRejected` with the ledger's reason when refused."""
    started = time.monotonic()
    hashes = 0
    for attempt in range(1, MAX_CHALLENGES + 1):
        challenge = client.faucet_challenge(account)
        if on_challenge is not None:
            on_challenge(challenge)
        tried = [0]

        def progress(n: int, before: int = hashes, tried: list[int] = tried) -> None:
            tried[0] = n
            if on_progress is not None:
                on_progress(before + n)

        solution = hashcash.solve(
            challenge.challenge, challenge.difficulty_bits, on_progress=progress
        )
        hashes += tried[0]
        try:
            reply = client.claim_faucet(challenge.challenge, solution, account)
        except LedgerRejected as exc:
            if exc.reason == Rejection.FAUCET_CHALLENGE_EXPIRED.value and attempt < MAX_CHALLENGES:
                continue
            raise
        return FaucetGrant(
            account=reply.account.id,
            amount=reply.amount,
            balance=reply.account.balance,
            granted_at=reply.granted_at,
            hashes=hashes,
            seconds=time.monotonic() - started,
        )
    raise AssertionError("unreachable")
