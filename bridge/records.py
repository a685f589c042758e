"""The ledger's record of a payout, with its signed txs parsed and checked against their txids."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.tron import SignedTx
from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.ledger_client import LedgerError
from client_sdk.treasury_client import Payout


@dataclass(frozen=True, slots=True)
class RecordedTx:
    txid: str
    seq: int
    signed: SignedTx
    recorded_at: int  # unix seconds, ledger clock

    @property
    def expiration(self) -> int:
        """ms, from the signed bytes themselves."""
        return self.signed.expiration


@dataclass(frozen=True, slots=True)
class LedgerPayout:
    """A withdrawal and every payout tx recorded for it, in the order signed."""

    withdrawal: pb.Withdrawal
    txs: tuple[RecordedTx, ...]

    @property
    def id(self) -> int:
        return int(self.withdrawal.withdrawal_id)

    def tx(self, txid: str) -> RecordedTx:
        return next(t for t in self.txs if t.txid == txid)


def from_ledger(payout: Payout) -> LedgerPayout:
    txs = []
    for r in payout.txs:
        try:
            signed = SignedTx.from_bytes(r.signed_tx)
        except ValueError as exc:
            raise LedgerError(f"the ledger's payout record {r.txid} holds no signed tx") from exc
        if signed.txid != r.txid:
            raise LedgerError(f"the ledger's payout record {r.txid} holds another tx")
        txs.append(RecordedTx(r.txid, r.seq, signed, r.recorded_at))
    return LedgerPayout(payout.withdrawal, tuple(txs))
