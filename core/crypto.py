"""secp256k1 keys, TRON addresses and recoverable signatures (libsecp256k1 via coincurve).

An account id is the TRON base58check address of its key. Signatures are 65 bytes,
r || s || v with v in {0, 1}, over a 32-byte SHA-256 digest, low-s only (the form TRON uses).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache

from coincurve import PrivateKey as _CCPrivateKey
from coincurve import PublicKey as _CCPublicKey
from tronpy.keys import keccak256, to_base58check_address, to_hex_address

from core.rejections import Rejected, Rejection
from core.types import Address

SIGNATURE_LENGTH = 65
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2


class InvalidSignature(ValueError):
    """The bytes are not a well-formed, canonical recoverable signature for the digest."""


class InvalidAddress(ValueError):
    """The string is not a TRON base58check address."""


def raw_address_of_public_key(uncompressed: bytes) -> bytes:
    """21-byte TRON address (0x41 prefix) of a 65-byte uncompressed public key."""
    return b"\x41" + keccak256(uncompressed[1:])[-20:]


@lru_cache(maxsize=65536)
def raw_address(address: str) -> bytes:
    """Decode a base58check TRON address to its 21 raw bytes (cached: the hot path compares raw)."""
    try:
        raw = bytes.fromhex(to_hex_address(address))
    except Exception as exc:  # tronpy raises several types for bad input
        raise InvalidAddress(f"not a TRON address: {address!r}") from exc
    if len(raw) != 21 or raw[0] != 0x41 or not address.startswith("T"):
        raise InvalidAddress(f"not a TRON address: {address!r}")
    return raw


def is_address(address: str) -> bool:
    try:
        raw_address(address)
    except InvalidAddress:
        return False
    return True


def check_address(value: str, field: str) -> str:
    """`value` if it is a TRON address, else a typed INVALID_ADDRESS refusal naming `field`."""
    try:
        raw_address(value)
    except InvalidAddress:
        raise Rejected(Rejection.INVALID_ADDRESS, f"{field} is not a TRON address") from None
    return value


def address_from_raw(raw: bytes) -> Address:
    return Address(to_base58check_address(raw))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key. Its repr never shows the secret."""

    _key: _CCPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(_CCPrivateKey(os.urandom(32)))

    @classmethod
    def from_hex(cls, hex_key: str) -> SigningKey:
        text = hex_key.strip().removeprefix("0x")
        try:
            secret = bytes.fromhex(text)
        except ValueError as exc:
            raise ValueError("private key must be 64 hex characters") from exc
        return cls.from_bytes(secret)

    @classmethod
    def from_bytes(cls, secret: bytes) -> SigningKey:
        if len(secret) != 32:
            raise ValueError("private key must be 32 bytes")
        try:
            return cls(_CCPrivateKey(secret))
        except ValueError as exc:
            raise ValueError("private key is out of range for secp256k1") from exc

    def secret_bytes(self) -> bytes:
        return self._key.secret

    def public_key(self) -> bytes:
        """65-byte uncompressed public key."""
        return self._key.public_key.format(compressed=False)

    @property
    def address(self) -> Address:
        return address_from_raw(raw_address_of_public_key(self.public_key()))

    def sign_digest(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        return self._key.sign_recoverable(digest, hasher=None)

    def __repr__(self) -> str:
        return f"SigningKey(address={self.address})"

    __str__ = __repr__


def recover_public_key(digest: bytes, signature: bytes) -> bytes:
    """The 65-byte uncompressed public key that made `signature` over `digest`.

    Only the canonical form is accepted: 65 bytes, v in {0, 1}, 0 < r < n and 0 < s <= n/2.
    """
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidSignature(f"signature must be {SIGNATURE_LENGTH} bytes, got {len(signature)}")
    if signature[64] not in (0, 1):
        raise InvalidSignature("signature recovery id must be 0 or 1")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not (0 < r < _SECP256K1_N and 0 < s <= _HALF_N):
        raise InvalidSignature("signature is not canonical (r, s out of range or high s)")
    try:
        public = _CCPublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception as exc:  # coincurve raises ValueError or a bare Exception
        raise InvalidSignature("signature does not recover a public key") from exc
    return bytes(public.format(compressed=False))


def recover_raw_address(digest: bytes, signature: bytes) -> bytes:
    """Raw 21-byte address of the key that made `signature` over `digest`."""
    return raw_address_of_public_key(recover_public_key(digest, signature))


def signed_by(digest: bytes, signature: bytes, address: str) -> bool:
    """True when `signature` over `digest` was made by the key of `address`."""
    try:
        return recover_raw_address(digest, signature) == raw_address(address)
    except (InvalidSignature, InvalidAddress):
        return False


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
