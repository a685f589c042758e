"""Payment states (T3) as both peers see them: canonical bytes, signing and fast verification.

The payer signs the ledger's ChannelStatePayload; on the wire only (channel_id, nonce, cumulative,
signature) travel, and the payee rebuilds the same deterministic bytes, so what it verifies is
exactly what the ledger will verify when the state is checkpointed or closed with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from coincurve import PublicKey

from btt.ledger.v1 import ledger_pb2 as pb
from core.crypto import SIGNATURE_LENGTH, SigningKey, raw_address, raw_address_of_public_key
from core.rejections import Rejection
from core.signing import DOMAIN_TAG

_STATE_TYPE = pb.ChannelStatePayload.DESCRIPTOR.name
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _N // 2


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


def _digest_prefix(ledger_id: str) -> bytes:
    return DOMAIN_TAG + b"\x00" + ledger_id.encode() + b"\x00" + _STATE_TYPE.encode() + b"\x00"


def sign_state(
    key: SigningKey, ledger_id: str, channel_id: bytes, nonce: int, cumulative: int
) -> SignedState:
    payload = state_payload(channel_id, nonce, cumulative)
    digest = hashlib.sha256(_digest_prefix(ledger_id) + payload).digest()
    return SignedState(channel_id, nonce, cumulative, key.sign_digest(digest))


class StateVerifier:
    """Checks the payer's signature on states of its channels.

    The digest is the ledger's (signing.signing_digest) with the constant prefix precomputed; the
    payer's public key is learnt from the first good signature (checked against its address) so
    later checks compare public keys and skip the keccak of the address.
    """

    def __init__(self, ledger_id: str, payer: str) -> None:
        self._prefix = _digest_prefix(ledger_id)
        self._payer_raw = raw_address(payer)
        self._public: bytes | None = None

    def check(self, state: SignedState) -> Rejection | None:
        sig = state.signature
        if len(sig) != SIGNATURE_LENGTH or sig[64] not in (0, 1):
            return Rejection.BAD_SIGNATURE
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:64], "big")
        if not (0 < r < _N and 0 < s <= _HALF_N):
            return Rejection.BAD_SIGNATURE  # the ledger refuses high-s too
        digest = hashlib.sha256(self._prefix + state.payload()).digest()
        try:
            public = PublicKey.from_signature_and_message(sig, digest, hasher=None).format(
                compressed=False
            )
        except Exception:  # coincurve raises ValueError or a bare Exception
            return Rejection.BAD_SIGNATURE
        if self._public is not None:
            return None if public == self._public else Rejection.WRONG_SIGNER
        if raw_address_of_public_key(public) != self._payer_raw:
            return Rejection.WRONG_SIGNER
        self._public = public
        return None
