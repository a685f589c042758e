"""Errors and stable reasons of the peer-to-peer channel protocol."""

from __future__ import annotations

import enum


class PayeeReason(enum.StrEnum):
    """Why a payee refused a payment update (strings on the wire, in PaymentReceipt.reason).

    Where the ledger has the same rule the value is the ledger's reason, so a payer handles both
    alike.
    """

    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    CHANNEL_NOT_OPEN = "CHANNEL_NOT_OPEN"
    INVALID_NONCE = "INVALID_NONCE"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    STALE_STATE = "STALE_STATE"  # nonce not above the best: a replayed or lower state
    DUPLICATE = "DUPLICATE"  # exactly the best state again (harmless, e.g. after a reconnect)
    CUMULATIVE_DECREASED = "CUMULATIVE_DECREASED"
    EXCEEDS_DEPOSIT = "EXCEEDS_DEPOSIT"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    WRONG_SIGNER = "WRONG_SIGNER"
    UNDERPAID = "UNDERPAID"  # accepted, but the payer still owes more than the credit allows


class ChannelError(Exception):
    """Base of the channel protocol's errors."""


class PeerMisbehaved(ChannelError):
    """The counterparty sent something that fails our checks (bad signature, wrong terms)."""


class BidRejected(ChannelError):
    pass


class PaymentRejected(ChannelError):
    """The payee refused a payment update."""

    def __init__(self, reason: str, message: str, best_nonce: int, best_cumulative: int) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.best_nonce = best_nonce
        self.best_cumulative = best_cumulative


class PayeeUnavailable(ChannelError):
    """The payee's service could not be reached or dropped the payment stream."""


class InvalidPayment(ChannelError):
    """A local check refused the payment before anything was signed."""


class TermsRefused(ChannelError):
    """The payee refused the proposed channel terms."""
