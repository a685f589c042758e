"""A real payee service (gRPC on 127.0.0.1) beside the real ledger, and a payer to drive it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client_sdk.channel import (
    CheckpointPolicy,
    PayeeBook,
    PayeeStore,
    PayeeTerms,
    PayerChannel,
    PayerStore,
)
from client_sdk.ledger_client import AsyncLedgerClient
from client_sdk.p2p import PayeeClient, PayeeServer
from core.crypto import SigningKey
from tests.ledger_harness import LedgerHarness

INFO_HASH = "ab" * 20
PEER = "127.0.0.2:6881"
RATE = 1_000


@dataclass
class PayeeNode:
    """One payee process, restartable over the same database file."""

    ledger: LedgerHarness
    db: Path
    key: SigningKey = field(default_factory=SigningKey.generate)
    terms: PayeeTerms = field(default_factory=lambda: PayeeTerms(close_margin=600))
    policy: CheckpointPolicy = field(default_factory=lambda: CheckpointPolicy(0, 0, 0))
    watch_events: bool = True
    server: PayeeServer | None = None
    client: AsyncLedgerClient | None = None
    port: int = 0

    @property
    def book(self) -> PayeeBook:
        assert self.server is not None
        return self.server.book

    @property
    def address(self) -> str:
        return self.key.address

    async def start(self) -> str:
        self.client = AsyncLedgerClient(self.ledger.target, self.key)
        book = await PayeeBook.create(
            self.key,
            self.client,
            PayeeStore(self.db),
            terms=self.terms,
            policy=self.policy,
            clock=self.ledger.clock,
            tick=0.05,
        )
        self.server = PayeeServer(book)
        address = f"127.0.0.1:{self.port}"
        target = await self.server.start(address, watch_events=self.watch_events)
        self.port = self.server.port  # a restart comes back on the same port
        return target

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server.book.store.close()
            self.server = None
        if self.client is not None:
            await self.client.close()
            self.client = None


@dataclass
class Payer:
    key: SigningKey
    ledger: AsyncLedgerClient
    store: PayerStore

    async def open(self, payee_target: str, **kwargs: object) -> PayerChannel:
        return await PayerChannel.open(
            key=self.key,
            ledger=self.ledger,
            payee=PayeeClient(payee_target),
            store=self.store,
            info_hash=INFO_HASH,
            peer_endpoint=PEER,
            bid=RATE,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
async def payee(ledger: LedgerHarness, tmp_path: Path) -> AsyncIterator[PayeeNode]:
    node = PayeeNode(ledger, tmp_path / "payee.db")
    await node.start()
    yield node
    await node.stop()


@pytest.fixture
async def payer(ledger: LedgerHarness, tmp_path: Path) -> AsyncIterator[Payer]:
    key = SigningKey.generate()
    ledger.fund(key.address, 100_000_000)
    client = AsyncLedgerClient(ledger.target, key)
    store = PayerStore(tmp_path / "payer.db")
    yield Payer(key, client, store)
    store.close()
    await client.close()


@contextmanager
def threaded_payee(ledger: LedgerHarness, db: Path) -> Iterator[tuple[PayeeNode, str]]:
    """A payee on its own event loop thread, for synchronous callers such as the CLI."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    node = PayeeNode(ledger, db)
    target = asyncio.run_coroutine_threadsafe(node.start(), loop).result(30)
    try:
        yield node, target
    finally:
        asyncio.run_coroutine_threadsafe(node.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
