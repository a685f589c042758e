"""Admission checks of a broadcast that need no state: java-tron's order, codes and messages.

Size and shape, TaPoS (the reference block), expiration, signature. Duplicates and execution
against the pending state are the chain's part (`Chain._check`).
"""

from __future__ import annotations

from collections.abc import Callable

from tronpy.keys import to_base58check_address
from tronpy.proto import tron_pb2

from core.crypto import InvalidSignature, recover_raw_address

MAX_EXPIRATION_MS = 24 * 3600 * 1000
TAPOS_WINDOW = 65_536
MAX_TX_SIZE = 500 * 1024


class BroadcastRefused(Exception):
    """A broadcast refused with a java-tron response code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def check_shape(tx: tron_pb2.Transaction) -> None:
    if tx.ByteSize() > MAX_TX_SIZE:
        raise BroadcastRefused("TOO_BIG_TRANSACTION_ERROR", "transaction size is too big")
    if len(tx.raw_data.contract) != 1:
        raise BroadcastRefused(
            "CONTRACT_VALIDATE_ERROR",
            "contract validate error : contract size should be exactly 1",
        )


def check_tapos(
    raw: tron_pb2.Transaction.raw, head_num: int, block_id: Callable[[int], bytes | None]
) -> None:
    """The tx names a recent block by its number's low bytes and 8 bytes of its id."""
    ref = bytes(raw.ref_block_bytes)
    if len(ref) != 2 or len(raw.ref_block_hash) != 8:
        raise BroadcastRefused("TAPOS_ERROR", "Tapos check error")
    num = head_num - ((head_num - int.from_bytes(ref, "big")) % TAPOS_WINDOW)
    found = block_id(num) if num >= 0 else None
    if found is None or found[8:16] != bytes(raw.ref_block_hash):
        raise BroadcastRefused("TAPOS_ERROR", "Tapos check error")


def check_expiration(raw: tron_pb2.Transaction.raw, head_timestamp: int) -> None:
    if not head_timestamp < raw.expiration <= head_timestamp + MAX_EXPIRATION_MS:
        raise BroadcastRefused("TRANSACTION_EXPIRATION_ERROR", "transaction expired")


def check_signature(tx: tron_pb2.Transaction, txid: str, owner: bytes) -> None:
    if not tx.signature:
        raise BroadcastRefused("SIGERROR", "validate signature error miss sig or contract")
    if tx.raw_data.contract[0].Permission_id != 0:
        raise BroadcastRefused("SIGERROR", "validate signature error permission isn't exit")
    digest = bytes.fromhex(txid)
    for sig in tx.signature:
        sig = bytes(sig)
        if len(sig) == 65 and sig[64] >= 27:
            sig = sig[:64] + bytes([sig[64] - 27])
        try:
            signer = recover_raw_address(digest, sig)
        except InvalidSignature as exc:
            raise BroadcastRefused("SIGERROR", f"validate signature error {exc}") from exc
        if signer != owner:
            raise BroadcastRefused(
                "SIGERROR",
                "validate signature error "
                f"{to_base58check_address(signer)} is not contained of permission",
            )
