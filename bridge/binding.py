"""Binding a TRON address to a ledger account: one message, signed by both keys.

digest = sha256("BTT-BRIDGE/v1" 0x00 "bind" 0x00 ledger_id 0x00 tron_address 0x00 account)

The TRON key's signature proves the depositor controls the sending address (so nobody can
redirect someone else's deposits); the account key's signature proves the account owner wants
them (so nobody can push deposits on a stranger). When both are the same key, one suffices.
The ledger id keeps a binding made for one ledger from being replayed to another's bridge.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from core.crypto import SigningKey, is_address, signed_by

DOMAIN = b"BTT-BRIDGE/v1"


class BindingError(ValueError):
    """The binding is malformed or a signature does not match."""


def binding_digest(ledger_id: str, tron_address: str, account: str) -> bytes:
    parts = [DOMAIN, b"bind", ledger_id.encode(), tron_address.encode(), account.encode()]
    return hashlib.sha256(b"\x00".join(parts)).digest()


@dataclass(frozen=True, slots=True)
class SignedBinding:
    ledger_id: str
    tron_address: str
    account: str
    tron_signature: bytes
    account_signature: bytes  # empty when the account key is the TRON key

    def to_json(self) -> str:
        return json.dumps(
            {
                "ledger_id": self.ledger_id,
                "tron_address": self.tron_address,
                "account": self.account,
                "tron_signature": self.tron_signature.hex(),
                "account_signature": self.account_signature.hex(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SignedBinding:
        try:
            d = json.loads(text)
            return cls(
                str(d["ledger_id"]),
                str(d["tron_address"]),
                str(d["account"]),
                bytes.fromhex(d["tron_signature"]),
                bytes.fromhex(d.get("account_signature", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BindingError("not a signed binding JSON") from exc

    def verify(self, ledger_id: str) -> None:
        if self.ledger_id != ledger_id:
            raise BindingError(f"binding is for ledger {self.ledger_id!r}, not {ledger_id!r}")
        for address in (self.tron_address, self.account):
            if not is_address(address):
                raise BindingError(f"not a TRON address: {address!r}")
        digest = binding_digest(self.ledger_id, self.tron_address, self.account)
        if not signed_by(digest, self.tron_signature, self.tron_address):
            raise BindingError("the TRON address's signature does not verify")
        if self.account != self.tron_address and not signed_by(
            digest, self.account_signature, self.account
        ):
            raise BindingError("the ledger account's signature does not verify")


def sign_binding(
    ledger_id: str, tron_key: SigningKey, account_key: SigningKey | None = None
) -> SignedBinding:
    """Bind `tron_key`'s address to `account_key`'s account (the same key when None)."""
    account_key = account_key or tron_key
    tron_address, account = tron_key.address, account_key.address
    digest = binding_digest(ledger_id, tron_address, account)
    same = tron_address == account
    return SignedBinding(
        ledger_id,
        tron_address,
        account,
        tron_key.sign_digest(digest),
        b"" if same else account_key.sign_digest(digest),
    )
