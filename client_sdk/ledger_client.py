"""Typed client of the btt-ledger gRPC service.

`AsyncLedgerClient` (client_sdk/ledger_async.py) is the implementation; `LedgerClient`, here,
runs it on a private event loop thread for scripts, so there is one client and no copy-pasted
synchronous twin. The errors both raise are in client_sdk/ledger_errors.py.

Every call has a deadline. On UNAVAILABLE or DEADLINE_EXCEEDED reads are retried, and writes
are resent as the very same signed bytes (the ledger applies a signed request at most once and
answers a resend with the first outcome), with exponential backoff and a bound. A write is
signed anew only after a refusal that says nothing was applied: a transfer or withdrawal refused
with NONCE_REUSED (another client of the key took the nonce) is re-signed once with a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Generator, Sequence
from pathlib import Path
from typing import TypeVar

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.ledger_async import DEFAULT_TIMEOUT, AsyncLedgerClient, LedgerInfo
from client_sdk.ledger_errors import (
    BatchOutcome,
    LedgerError,
    LedgerOutcomeUnknown,
    LedgerRejected,
    LedgerUnavailable,
    NoSigningKey,
)
from core.crypto import SigningKey

__all__ = [
    "AsyncLedgerClient",
    "BatchOutcome",
    "LedgerClient",
    "LedgerError",
    "LedgerInfo",
    "LedgerOutcomeUnknown",
    "LedgerRejected",
    "LedgerUnavailable",
    "NoSigningKey",
]

T = TypeVar("T")

# ---------------------------------------------------------------- synchronous facade


class _LoopThread:
    """A private event loop in a daemon thread; coroutines are run on it and awaited here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, aw: Awaitable[T], timeout: float | None = None) -> T:
        async def wrap() -> T:
            return await aw

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        with contextlib.suppress(RuntimeError):
            self.loop.close()


class LedgerClient:
    """Blocking facade over `AsyncLedgerClient` for scripts and the CLI."""

    def __init__(
        self,
        target: str,
        key: SigningKey | None = None,
        *,
        ca_cert: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._loop = _LoopThread()

        async def make() -> AsyncLedgerClient:
            return AsyncLedgerClient(target, key, ca_cert=ca_cert, timeout=timeout)

        self.aio = self._loop.run(make())

    def _run(self, aw: Awaitable[T]) -> T:
        return self._loop.run(aw)

    def close(self) -> None:
        self._run(self.aio.close())
        self._loop.stop()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def key(self) -> SigningKey | None:
        return self.aio.key

    def ledger_id(self) -> str:
        return self._run(self.aio.ledger_id())

    def get_info(self) -> LedgerInfo:
        return self._run(self.aio.get_info())

    def account(self, account: str | None = None) -> pb.Account:
        return self._run(self.aio.account(account))

    def balance(self, account: str | None = None) -> int:
        return self._run(self.aio.balance(account))

    def get_channel(self, channel_id: bytes) -> pb.Channel:
        return self._run(self.aio.get_channel(channel_id))

    def list_channels(
        self,
        party: str = "",
        status: int = pb.CHANNEL_STATUS_UNSPECIFIED,
        *,
        limit: int = 100,
        after: bytes = b"",
    ) -> list[pb.Channel]:
        return self._run(self.aio.list_channels(party, status, limit=limit, after=after))

    def audit(self) -> pb.AuditResponse:
        return self._run(self.aio.audit())

    def withdrawals(
        self, account: str | None = None, status: str = "", *, limit: int = 100, after: int = 0
    ) -> list[pb.Withdrawal]:
        return self._run(self.aio.withdrawals(account, status, limit=limit, after=after))

    def transfer(self, to: str, amount: int, memo: str = "") -> pb.TransferResponse:
        return self._run(self.aio.transfer(to, amount, memo))

    def request_withdrawal(self, tron_address: str, amount: int) -> pb.Withdrawal:
        return self._run(self.aio.request_withdrawal(tron_address, amount))

    def submit_batch(self, operations: Sequence[pb.BatchOperation]) -> list[BatchOutcome]:
        return self._run(self.aio.submit_batch(operations))

    def transfer_many(self, transfers: Sequence[tuple[str, int, str]]) -> list[BatchOutcome]:
        return self._run(self.aio.transfer_many(transfers))

    def faucet_challenge(self, account: str | None = None) -> pb.FaucetChallenge:
        return self._run(self.aio.faucet_challenge(account))

    def claim_faucet(
        self, challenge: bytes, solution: int, account: str | None = None
    ) -> pb.ClaimFaucetResponse:
        return self._run(self.aio.claim_faucet(challenge, solution, account))

    def open_channel(
        self, payee: str, deposit: int, expiry: int, salt: int, refund: pb.Signed
    ) -> pb.Channel:
        return self._run(self.aio.open_channel(payee, deposit, expiry, salt, refund))

    def submit_state(self, state: pb.Signed) -> pb.Channel:
        return self._run(self.aio.submit_state(state))

    def close_channel(
        self, channel_id: bytes, state: pb.Signed | None, nonce: int, cumulative: int
    ) -> pb.Channel:
        return self._run(self.aio.close_channel(channel_id, state, nonce, cumulative))

    def cooperative_close(self, payer_close: pb.Signed, payee_close: pb.Signed) -> pb.Channel:
        return self._run(self.aio.cooperative_close(payer_close, payee_close))

    def request_close(self, channel_id: bytes) -> pb.Channel:
        return self._run(self.aio.request_close(channel_id))

    def claim_refund(self, channel_id: bytes, refund: pb.Signed) -> pb.Channel:
        return self._run(self.aio.claim_refund(channel_id, refund))

    def top_up(
        self,
        channel_id: bytes,
        additional_deposit: int,
        new_expiry: int,
        sequence: int,
        refund: pb.Signed | None = None,
    ) -> pb.Channel:
        return self._run(
            self.aio.top_up(channel_id, additional_deposit, new_expiry, sequence, refund)
        )

    def events(
        self, account: str = "", after_event_id: int = 0, *, only_new: bool = False
    ) -> Generator[pb.Event]:
        """Blocking iterator over `AsyncLedgerClient.events` (runs until the caller stops)."""
        agen = self.aio.events(account, after_event_id, only_new=only_new)
        try:
            while True:
                try:
                    yield self._run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            with contextlib.suppress(Exception):
                self._loop.run(agen.aclose(), 5)
