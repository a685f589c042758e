"""What the ledger client raises, from a gRPC status or a batch's per-operation result.

`LedgerUnavailable`: not reached or no answer in time; `LedgerOutcomeUnknown`: a write whose
effect is unknown (resend the same signed bytes); `LedgerRejected`: refused, nothing changed,
with the ledger's stable reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from core.rejections import DATABASE_UNAVAILABLE, SLOW_CONSUMER, reason_of

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


class LedgerError(Exception):
    """Base of every error this client raises."""


class LedgerUnavailable(LedgerError):
    """The ledger could not be reached or did not answer in time."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str | None = None) -> None:
        super().__init__(f"ledger unavailable ({code.name}): {message}")
        self.code = code
        self.message = message
        self.reason = reason


class LedgerOutcomeUnknown(LedgerUnavailable):
    """A write was sent but no answer said whether it took effect, after every resend allowed.

    Send the same signed request again later to learn its outcome; signing a new one could
    apply the operation twice.
    """


class LedgerRejected(LedgerError):
    """The ledger refused the request; nothing changed. `reason` is the ledger's stable reason."""

    def __init__(self, reason: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message if message.startswith(reason) else f"{reason}: {message}")
        self.reason = reason
        self.code = code
        self.message = message


class NoSigningKey(LedgerError):
    """A signed operation was called on a client made without a key."""


def _error(exc: grpc.RpcError, *, write: bool = False) -> LedgerError:
    code = exc.code()  # type: ignore[attr-defined]
    details = exc.details() or ""  # type: ignore[attr-defined]
    reason = reason_of(exc)
    if code in _RETRYABLE:
        if write and reason != DATABASE_UNAVAILABLE:
            return LedgerOutcomeUnknown(code, details, reason)
        return LedgerUnavailable(code, details, reason)
    return LedgerRejected(reason or code.name, code, details)


def _resumable(exc: grpc.RpcError) -> bool:
    """A stream that ended this way may simply be opened again after its last event."""
    code = exc.code()  # type: ignore[attr-defined]
    if code in _RETRYABLE:
        return True
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and reason_of(exc) == SLOW_CONSUMER


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One operation's answer in a batch: its reply (`TransferResponse`, or `Channel` for a
    checkpoint or close) or the error the single call would have raised."""

    reply: pb.TransferResponse | pb.Channel | None = None
    error: LedgerError | None = None

    def unwrap(self) -> pb.TransferResponse | pb.Channel:
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


def _batch_outcome(result: pb.BatchResult) -> BatchOutcome:
    kind = result.WhichOneof("result")
    if kind == "transfer":
        return BatchOutcome(reply=result.transfer)
    if kind == "channel":
        return BatchOutcome(reply=result.channel.channel)
    e = result.error
    code = grpc.StatusCode.UNKNOWN
    for candidate in grpc.StatusCode:
        if candidate.value[0] == e.code:
            code = candidate
    if code in _RETRYABLE:
        if e.reason != DATABASE_UNAVAILABLE:
            return BatchOutcome(error=LedgerOutcomeUnknown(code, e.message, e.reason))
        return BatchOutcome(error=LedgerUnavailable(code, e.message, e.reason))
    return BatchOutcome(error=LedgerRejected(e.reason or code.name, code, e.message))
