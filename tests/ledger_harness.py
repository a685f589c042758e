"""A real ledger gRPC server on 127.0.0.1 in a background thread, for any test (sync or async)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from ledger.clock import ManualClock
from ledger.rpc.server import RunningLedger, build_service, start_server
from ledger.service import LedgerService

TREASURY_TOKEN = "test-treasury-token"


class LedgerHarness:
    def __init__(self, running: RunningLedger, clock: ManualClock, loop: asyncio.AbstractEventLoop):
        self.running = running
        self.clock = clock
        self.loop = loop
        self._deposits = 0

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
        self._deposits += 1
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

    def call_in_loop(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@contextmanager
def running_ledger(
    db_url: str, *, challenge_window: int = 600, sweep_interval: float | None = None
) -> Iterator[LedgerHarness]:
    clock = ManualClock()
    service = build_service(
        db_url,
        clock=clock,
        challenge_window=challenge_window,
        migrate=True,
        ledger_id="test-ledger",
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, RunningLedger] = {}

    async def boot() -> None:
        holder["r"] = await start_server(
            service, "127.0.0.1:0", treasury_token=TREASURY_TOKEN, sweep_interval=sweep_interval
        )
        started.set()

    thread = threading.Thread(target=loop.run_forever, name="ledger-server", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(boot(), loop).result(30)
    started.wait(30)
    harness = LedgerHarness(holder["r"], clock, loop)
    try:
        yield harness
    finally:
        asyncio.run_coroutine_threadsafe(holder["r"].stop(0.5), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        service.store.dispose()
