"""Payment channels between a payer and a payee, off the ledger's per-payment path."""

from client_sdk.channel.book import PayeeBook, PayeeTerms
from client_sdk.channel.errors import (
    BidRejected,
    ChannelError,
    InvalidPayment,
    PayeeReason,
    PayeeUnavailable,
    PaymentRejected,
    PeerMisbehaved,
    TermsRefused,
)
from client_sdk.channel.payee import CheckpointPolicy, PayeeChannel
from client_sdk.channel.payer import PayerChannel
from client_sdk.channel.states import SignedState, StateVerifier, sign_state
from client_sdk.channel.store import PayeeStore, PayerStore

__all__ = [
    "BidRejected",
    "ChannelError",
    "CheckpointPolicy",
    "InvalidPayment",
    "PayeeBook",
    "PayeeChannel",
    "PayeeReason",
    "PayeeStore",
    "PayeeTerms",
    "PayeeUnavailable",
    "PayerChannel",
    "PayerStore",
    "PaymentRejected",
    "PeerMisbehaved",
    "SignedState",
    "StateVerifier",
    "TermsRefused",
    "sign_state",
]
