"""Signed envelopes on the wire: sign a payload message, open one received.

This is the adapter between protobuf payloads and the pure protocol: it serializes
deterministically, and on receipt keeps the exact payload bytes it verified over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from btt.ledger.v1 import ledger_pb2 as pb
from core import wirecheck
from core.crypto import SigningKey
from core.rejections import Rejected, Rejection
from core.signing import SignedBy, signing_digest

M = TypeVar("M", bound=Message)

MAX_PAYLOAD_BYTES = 4096
REQUEST_TAG = b"BTT-CHANNELS/v1 request"


def message_type(message: Message | type[Message]) -> str:
    return message.DESCRIPTOR.name


def serialize(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def sign(key: SigningKey, ledger_id: str, payload: Message) -> pb.Signed:
    data = serialize(payload)
    digest = signing_digest(ledger_id, message_type(payload), data)
    return pb.Signed(payload=data, signature=key.sign_digest(digest))


def cosign(
    key: SigningKey, ledger_id: str, signed: pb.Signed, payload_type: type[Message]
) -> pb.Signed:
    """A second signature over exactly the same payload bytes (cooperative close)."""
    digest = signing_digest(ledger_id, message_type(payload_type), signed.payload)
    return pb.Signed(payload=signed.payload, signature=key.sign_digest(digest))


@dataclass(frozen=True, slots=True)
class Opened(Generic[M]):
    payload: M
    proof: SignedBy


def open_signed(ledger_id: str, signed: pb.Signed, payload_type: type[M], field: str) -> Opened[M]:
    """Parse the payload bytes; return it with the digest the signature must cover.

    Signature checks belong to the protocol (it knows who must have signed); this only refuses
    bytes that are not a well-formed envelope.
    """
    if not signed.payload:
        raise Rejected(Rejection.MALFORMED, f"{field}: missing signed payload")
    if len(signed.payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(Rejection.MALFORMED, f"{field}: payload over {MAX_PAYLOAD_BYTES} bytes")
    payload = payload_type()
    try:
        payload.ParseFromString(signed.payload)
        wirecheck.check(signed.payload, payload)
    except DecodeError as exc:
        raise Rejected(
            Rejection.MALFORMED, f"{field}: payload is not a valid {message_type(payload_type)}"
        ) from exc
    except wirecheck.WireError as exc:
        raise Rejected(Rejection.MALFORMED, f"{field}: {exc}") from exc
    digest = signing_digest(ledger_id, message_type(payload_type), signed.payload)
    return Opened(payload, SignedBy(digest=digest, signature=bytes(signed.signature)))


def request_digest(method: str, request: Message) -> bytes:
    """What makes two requests the same request: the method and its exact signed envelopes.

    A state-changing request is applied at most once by this digest; sending the same bytes
    again returns the first outcome.
    """
    return hashlib.sha256(
        REQUEST_TAG + b"\x00" + method.encode() + b"\x00" + serialize(request)
    ).digest()
