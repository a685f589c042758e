"""Rejections -> precise gRPC status codes, with the stable reason as rich error details."""

from __future__ import annotations

import grpc

from core.rejections import Rejected, Rejection
from core.rpc import StatusError, refusal

_R = Rejection
STATUS_OF: dict[Rejection, grpc.StatusCode] = {
    **{
        r: grpc.StatusCode.INVALID_ARGUMENT
        for r in (
            _R.MALFORMED,
            _R.INVALID_AMOUNT,
            _R.AMOUNT_OVERFLOW,
            _R.INVALID_ADDRESS,
            _R.INVALID_EXPIRY,
            _R.INVALID_NONCE,
            _R.SELF_TRANSFER,
            _R.CHANNEL_ID_MISMATCH,
            _R.PAYLOAD_MISMATCH,
            _R.EXCEEDS_DEPOSIT,
            _R.NOTHING_TO_CHANGE,
            _R.REFUND_MISMATCH,
            _R.FAUCET_CHALLENGE_INVALID,
            _R.FAUCET_WORK_INSUFFICIENT,
        )
    },
    _R.BAD_SIGNATURE: grpc.StatusCode.UNAUTHENTICATED,
    _R.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    _R.WRONG_SIGNER: grpc.StatusCode.PERMISSION_DENIED,
    _R.UNKNOWN_ACCOUNT: grpc.StatusCode.NOT_FOUND,
    _R.UNKNOWN_CHANNEL: grpc.StatusCode.NOT_FOUND,
    _R.UNKNOWN_WITHDRAWAL: grpc.StatusCode.NOT_FOUND,
    _R.CHANNEL_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    _R.NONCE_REUSED: grpc.StatusCode.ALREADY_EXISTS,
    _R.FAUCET_ALREADY_CLAIMED: grpc.StatusCode.ALREADY_EXISTS,
    _R.FAUCET_RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    **{
        r: grpc.StatusCode.FAILED_PRECONDITION
        for r in (
            _R.INSUFFICIENT_FUNDS,
            _R.CHANNEL_NOT_OPEN,
            _R.CHANNEL_SETTLED,
            _R.CHANNEL_EXPIRED,
            _R.NOT_YET_EXPIRED,
            _R.CHALLENGE_OVER,
            _R.STALE_STATE,
            _R.CUMULATIVE_DECREASED,
            _R.WRONG_SEQUENCE,
            _R.WITHDRAWAL_NOT_PENDING,
            _R.DEPOSIT_CONFLICT,
            _R.LEASE_NOT_HELD,
            _R.PAYOUT_CONFLICT,
            _R.FAUCET_DISABLED,
            _R.FAUCET_CHALLENGE_EXPIRED,
            _R.FAUCET_EMPTY,
        )
    },
}
assert set(STATUS_OF) == set(Rejection), "every rejection needs a status code"


def status_error(rejected: Rejected) -> StatusError:
    return refusal(STATUS_OF[rejected.reason], rejected.reason.value, rejected.message)


def unavailable_error(reason: str, message: str) -> StatusError:
    return refusal(grpc.StatusCode.UNAVAILABLE, reason, message)


def exhausted_error(reason: str, message: str) -> StatusError:
    return refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, reason, message)
