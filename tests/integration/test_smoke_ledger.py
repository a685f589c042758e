from __future__ import annotations

import grpc

from btt.ledger.v1 import ledger_pb2 as pb
from btt.ledger.v1 import ledger_pb2_grpc as pb_grpc
from core.crypto import SigningKey
from core.envelopes import sign
from tests.ledger_harness import LedgerHarness


def test_fund_and_transfer(ledger: LedgerHarness) -> None:
    alice, bob = SigningKey.generate(), SigningKey.generate()
    assert ledger.fund(alice.address, 1_000_000) == 1_000_000
    with grpc.insecure_channel(ledger.target) as ch:
        stub = pb_grpc.LedgerStub(ch)
        info = stub.GetInfo(pb.GetInfoRequest())
        t = pb.TransferPayload(
            from_account=alice.address, to_account=bob.address, amount=250_000, nonce=1
        )
        reply = stub.Transfer(pb.TransferRequest(transfer=sign(alice, info.ledger_id, t)))
        assert reply.from_account.balance == 750_000
        assert stub.GetAccount(pb.GetAccountRequest(account=bob.address)).balance == 250_000
        audit = stub.Audit(pb.AuditRequest())
        assert audit.balanced and audit.account_balances == 1_000_000
