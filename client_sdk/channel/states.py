"""Payment states (T3) as both peers see them: canonical bytes, signing and fast verification.

The payer signs the ledger's ChannelStatePayload; on the wire only (channel_id, nonce, cumulative,
signature) travel, and the payee rebuilds the same deterministic bytes, so what it verifies is
exactly what the ledger will verify when the state is checkpointed or closed with.
"""

from __future__ import annotations

from dataclasses import dataclass

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import (
    InvalidSignature,
    SigningKey,
    raw_address,
    raw_address_of_public_key,
    recover_public_key,
)
from core.rejections import Rejection
from core.signing import signing_digest

_STATE_TYPE = pb.ChannelStatePayload.DESCRIPTOR.name


@dataclass(frozen=True, slots=True)
class SignedState:
    """One payer-signed state: what is stored and sent."""

    channel_id: bytes
    nonce: int
    cumulative: int
    signature: bytes

    def payload(self) -> bytes:
        return state_payload(self.channel_id, self.nonce, self.cumulative)

    def envelope(self) -> pb.Signed:
        """The ledger's Signed envelope for SubmitState / CloseChannel."""
        return pb.Signed(payload=self.payload(), signature=self.signature)


def state_payload(channel_id: bytes, nonce: int, cumulative: int) -> bytes:
    msg = pb.ChannelStatePayload(channel_id=channel_id, nonce=nonce, cumulative=cumulative)
    return msg.SerializeToString(deterministic=True)


def sign_state(
    key: SigningKey, ledger_id: str, channel_id: bytes, nonce: int, cumulative: int
) -> SignedState:
    digest = signing_digest(ledger_id, _STATE_TYPE, state_payload(channel_id, nonce, cumulative))
    return SignedState(channel_id, nonce, cumulative, key.sign_digest(digest))


class StateVerifier:
    """Checks the payer's signature on states of its channels, as the ledger will.

    The payer's public key is learnt from the first good signature (checked against its address)
    so later checks compare public keys and skip the keccak of the address.
    """

    def __init__(self, ledger_id: str, payer: str) -> None:
        self._ledger_id = ledger_id
        self._payer_raw = raw_address(payer)
        self._public: bytes | None = None

    def check(self, state: SignedState) -> Rejection | None:
        digest = signing_digest(self._ledger_id, _STATE_TYPE, state.payload())
        try:
            public = recover_public_key(digest, state.signature)
        except InvalidSignature:
            return Rejection.BAD_SIGNATURE  # malformed, high-s or unrecoverable: the ledger too
        if self._public is not None:
            return None if public == self._public else Rejection.WRONG_SIGNER
        if raw_address_of_public_key(public) != self._payer_raw:
            return Rejection.WRONG_SIGNER
        self._public = public
        return None
