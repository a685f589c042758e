"""A real ledger gRPC server on 127.0.0.1 in a background thread, for any test (sync or async)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.clock import ManualClock
from ledger.embedded import serving_in_thread
from ledger.faucet import FaucetPolicy
from ledger.rpc.server import RunningLedger, build_service
from ledger.service import LedgerService

TREASURY_TOKEN = "test-treasury-token"


class LedgerHarness:
    def __init__(self, running: RunningLedger, clock: ManualClock) -> None:
        self.running = running
        self.clock = clock

    @property
    def target(self) -> str:
        return self.running.target

    @property
    def service(self) -> LedgerService:
        return self.running.service

    @property
    def ledger_id(self) -> str:
        return self.running.service.ledger_id

    def treasury_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {TREASURY_TOKEN}"),)

    def fund(self, account: str, amount: int) -> int:
        """Credit a deposit as the bridge would (a fresh fake txid). Returns the balance."""
        txid = os.urandom(32).hex()
        with grpc.insecure_channel(self.target) as channel:
            stub = pb_grpc.TreasuryStub(channel)
            reply = stub.CreditDeposit(
                pb.CreditDepositRequest(
                    txid=txid, contract_index=0, account=account, amount=amount, tron_from=account
                ),
                metadata=self.treasury_metadata(),
                timeout=10,
            )
        return int(reply.account.balance)

    def sweep(self) -> int:
        return self.service.sweep()


@contextmanager
def running_ledger(
    db_url: str,
    *,
    challenge_window: int = 600,
    sweep_interval: float | None = None,
    faucet: FaucetPolicy | None = None,
) -> Iterator[LedgerHarness]:
    clock = ManualClock()
    service = build_service(
        db_url,
        clock=clock,
        challenge_window=challenge_window,
        migrate=True,
        ledger_id="test-ledger",
        faucet=faucet,
    )
    try:
        with serving_in_thread(
            service, treasury_token=TREASURY_TOKEN, sweep_interval=sweep_interval
        ) as running:
            yield LedgerHarness(running, clock)
    finally:
        service.store.dispose()
