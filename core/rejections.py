"""Typed refusals and their stable reasons, which travel as wire codes.

A servicer aborts with the reason in the trailing metadata under `REASON_METADATA_KEY` (and as
a google.rpc.ErrorInfo in the rich status); any client reads it back with `reason_of`.
"""

from __future__ import annotations

import enum

ERROR_DOMAIN = "btt-ledger"
REASON_METADATA_KEY = "btt-reason"


class Rejection(enum.Enum):
    """Stable, machine-readable reasons. The value is the reason string on the wire."""

    MALFORMED = "MALFORMED"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    AMOUNT_OVERFLOW = "AMOUNT_OVERFLOW"
    INVALID_ADDRESS = "INVALID_ADDRESS"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    INVALID_NONCE = "INVALID_NONCE"
    SELF_TRANSFER = "SELF_TRANSFER"
    CHANNEL_ID_MISMATCH = "CHANNEL_ID_MISMATCH"
    PAYLOAD_MISMATCH = "PAYLOAD_MISMATCH"
    EXCEEDS_DEPOSIT = "EXCEEDS_DEPOSIT"
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    WRONG_SIGNER = "WRONG_SIGNER"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    UNKNOWN_WITHDRAWAL = "UNKNOWN_WITHDRAWAL"
    CHANNEL_EXISTS = "CHANNEL_EXISTS"
    NONCE_REUSED = "NONCE_REUSED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    CHANNEL_NOT_OPEN = "CHANNEL_NOT_OPEN"
    CHANNEL_SETTLED = "CHANNEL_SETTLED"
    CHANNEL_EXPIRED = "CHANNEL_EXPIRED"
    NOT_YET_EXPIRED = "NOT_YET_EXPIRED"
    CHALLENGE_OVER = "CHALLENGE_OVER"
    STALE_STATE = "STALE_STATE"
    CUMULATIVE_DECREASED = "CUMULATIVE_DECREASED"
    WRONG_SEQUENCE = "WRONG_SEQUENCE"
    REFUND_MISMATCH = "REFUND_MISMATCH"
    WITHDRAWAL_NOT_PENDING = "WITHDRAWAL_NOT_PENDING"
    DEPOSIT_CONFLICT = "DEPOSIT_CONFLICT"
    LEASE_NOT_HELD = "LEASE_NOT_HELD"
    PAYOUT_CONFLICT = "PAYOUT_CONFLICT"
    FAUCET_DISABLED = "FAUCET_DISABLED"
    FAUCET_ALREADY_CLAIMED = "FAUCET_ALREADY_CLAIMED"
    FAUCET_CHALLENGE_INVALID = "FAUCET_CHALLENGE_INVALID"
    FAUCET_CHALLENGE_EXPIRED = "FAUCET_CHALLENGE_EXPIRED"
    FAUCET_WORK_INSUFFICIENT = "FAUCET_WORK_INSUFFICIENT"
    FAUCET_RATE_LIMITED = "FAUCET_RATE_LIMITED"
    FAUCET_EMPTY = "FAUCET_EMPTY"


class Rejected(Exception):
    """A typed refusal: nothing changed. Carries a stable reason and a human message."""

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


# Reasons of UNAVAILABLE answers, which are not refusals: the request may, and should, be sent
# again as the very same bytes.
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
"""The ledger's database could not be reached in time; nothing was committed."""
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
"""The database connection failed during COMMIT; the request may or may not have taken effect."""

# Reasons of RESOURCE_EXHAUSTED answers to Subscribe.
TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
"""A cap on concurrent event streams (in all, per client address, or unfiltered) is reached."""
SLOW_CONSUMER = "SLOW_CONSUMER"
"""The stream fell too far behind and was cut off; subscribe again after the last event."""
RATE_LIMITED = "RATE_LIMITED"
"""The client address sent requests faster than the ledger allows; the `retry-after-ms` trailer
(and the message) says when the next one would be let through."""
RETRY_AFTER_METADATA_KEY = "retry-after-ms"


def reason_of(error: object) -> str | None:
    """The stable reason a failed call carries in its trailers (a grpc.RpcError), else None."""
    trailers = getattr(error, "trailing_metadata", None)
    metadata = trailers() if callable(trailers) else None
    for key, value in metadata or ():
        if key == REASON_METADATA_KEY:
            return str(value)
    return None
