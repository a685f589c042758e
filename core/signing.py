"""Domain-separated digests of signed payloads, and deterministic channel ids.

digest = sha256(DOMAIN_TAG 0x00 ledger_id 0x00 message_type 0x00 payload_bytes)

The ledger id stops a signature being replayed on another ledger, the message type stops it being
replayed as another kind of message, and per-account / per-channel nonces stop a second use.
docs/protocol.md is the byte-level reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DOMAIN_TAG = b"BTT-CHANNELS/v1"
_SEP = b"\x00"


@dataclass(frozen=True, slots=True)
class SignedBy:
    """A signature and the domain-separated digest it must cover."""

    digest: bytes
    signature: bytes


def signing_digest(ledger_id: str, message_type: str, payload: bytes) -> bytes:
    h = hashlib.sha256(DOMAIN_TAG)
    h.update(_SEP + ledger_id.encode() + _SEP + message_type.encode() + _SEP)
    h.update(payload)
    return h.digest()


def derive_channel_id(ledger_id: str, payer: str, payee: str, salt: int) -> bytes:
    """32-byte channel id, known to both parties before any money moves."""
    if not 0 <= salt < 2**64:
        raise ValueError("salt must be an unsigned 64-bit integer")
    parts = [DOMAIN_TAG, ledger_id.encode(), b"channel-id", payer.encode(), payee.encode()]
    return hashlib.sha256(_SEP.join(parts) + _SEP + salt.to_bytes(8, "big")).digest()
