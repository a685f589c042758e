"""Typed failures of the TRON gateway, one per java-tron response code that matters."""

from __future__ import annotations


class TronError(Exception):
    """A node refused or failed a request. `retryable` says whether the same bytes may succeed."""

    retryable = False

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message


class NodeUnavailable(TronError):
    """No usable answer: connection refused, timeout, HTTP error, malformed JSON."""

    retryable = True


class NodeBusy(TronError):
    """SERVER_BUSY, NO_CONNECTION, NOT_ENOUGH_EFFECTIVE_CONNECTION: try again later."""

    retryable = True


class SignatureRejected(TronError):
    """SIGERROR: the signature does not come from the owner's key."""


class TaposRejected(TronError):
    """TAPOS_ERROR: the reference block is unknown to the node (or on another fork)."""


class TransactionExpired(TronError):
    """TRANSACTION_EXPIRATION_ERROR: expired, or expiration too far in the future."""


class ContractRejected(TronError):
    """CONTRACT_VALIDATE_ERROR / CONTRACT_EXE_ERROR: balance, token id, amount, ..."""


class BandwidthRejected(TronError):
    """BANDWITH_ERROR: no free bandwidth left and not enough TRX to burn for it."""


class TransactionTooBig(TronError):
    """TOO_BIG_TRANSACTION_ERROR."""


class NodeRejected(TronError):
    """Any other refusal (OTHER_ERROR, unknown codes, {"Error": ...} answers)."""


CODE_ERRORS: dict[str, type[TronError]] = {
    "SIGERROR": SignatureRejected,
    "TAPOS_ERROR": TaposRejected,
    "TRANSACTION_EXPIRATION_ERROR": TransactionExpired,
    "CONTRACT_VALIDATE_ERROR": ContractRejected,
    "CONTRACT_EXE_ERROR": ContractRejected,
    "BANDWITH_ERROR": BandwidthRejected,  # java-tron's spelling
    "BANDWIDTH_ERROR": BandwidthRejected,
    "TOO_BIG_TRANSACTION_ERROR": TransactionTooBig,
    "SERVER_BUSY": NodeBusy,
    "NO_CONNECTION": NodeBusy,
    "NOT_ENOUGH_EFFECTIVE_CONNECTION": NodeBusy,
}


def error_for_code(code: str, message: str) -> TronError:
    return CODE_ERRORS.get(code, NodeRejected)(message, code)
