from __future__ import annotations

from pathlib import Path

import pytest
from tronpy import Tron
from tronpy.exceptions import BadSignature, ValidationError
from tronpy.keys import PrivateKey
from tronpy.providers import HTTPProvider

from bridge.devnode import running_devnode

pytestmark = pytest.mark.timeout(60)

ALICE = PrivateKey(bytes([0x11]) * 32)
BOB = PrivateKey(bytes([0x22]) * 32)


def test_tronpy_high_level_path_end_to_end(tmp_path: Path) -> None:
    a, b = ALICE.public_key.to_base58check_address(), BOB.public_key.to_base58check_address()
    with running_devnode(tmp_path, block_interval=0.1, solid_depth=2) as node:
        node.fund(a, 2_000_000_000)
        client = Tron(HTTPProvider(node.url, timeout=5))

        issue = client.trx.asset_issue(a, "BTT", 10**15, url="https://btt.example")
        info = issue.build().sign(ALICE).broadcast().wait(timeout=10, interval=0.1)
        token_id = int(info["assetIssueID"])
        assert token_id == 1_000_001
        assert info["fee"] == 1_024_000_000
        assert client.get_asset(token_id)["owner_address"] == a

        sent = (
            client.trx.asset_transfer(a, b, 1234, token_id)
            .memo(b"deposit:42")
            .build()
            .sign(ALICE)
            .broadcast()
        )
        receipt = sent.wait(timeout=10, interval=0.1)
        assert "result" not in receipt
        assert client.get_account_asset_balance(b, token_id) == 1234
        assert client.get_account_asset_balance(a, token_id) == 10**15 - 1234
        tx = client.get_transaction(sent.txid)
        assert tx["raw_data"]["data"] == b"deposit:42".hex()
        assert tx["ret"][0]["contractRet"] == "SUCCESS"
        block = client.get_block(receipt["blockNumber"])
        assert [t["txID"] for t in block["transactions"]] == [sent.txid]
        solid = sent.wait(timeout=10, interval=0.1, solid=True)
        assert solid["blockNumber"] == receipt["blockNumber"]
        assert client.get_latest_solid_block_number() <= client.get_latest_block_number() - 2

        trx = client.trx.transfer(a, b, 5_000_000).build().sign(ALICE).broadcast()
        trx.wait(timeout=10, interval=0.1)
        assert client.get_account_balance(b) == 5

        with pytest.raises(ValidationError, match="assetBalance is not sufficient"):
            client.trx.asset_transfer(b, a, 10**9, token_id).build().sign(BOB).broadcast()
        with pytest.raises(BadSignature):
            client.trx.transfer(b, a, 1).build().set_signature(
                [ALICE.sign_msg_hash(bytes(32)).hex()]
            ).broadcast()
