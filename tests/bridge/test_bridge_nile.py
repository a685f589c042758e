"""Against the TRON Nile testnet: runs only when configured, else skipped with the reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.tron import TronGateway
from core.crypto import SigningKey

pytestmark = [pytest.mark.nile, pytest.mark.timeout(120)]

ENDPOINT = os.environ.get("BTT_NILE_ENDPOINT")
API_KEY = os.environ.get("BTT_NILE_API_KEY")
KEY_FILE = os.environ.get("BTT_NILE_KEY_FILE")


@pytest.mark.skipif(
    not (ENDPOINT or API_KEY) or not KEY_FILE,
    reason="set BTT_NILE_ENDPOINT (or BTT_NILE_API_KEY) and BTT_NILE_KEY_FILE to run on Nile",
)
def test_nile_solid_head_balance_and_self_memo_transfer() -> None:
    key = SigningKey.from_hex(Path(str(KEY_FILE)).read_text())
    gw = TronGateway(ENDPOINT, API_KEY, "nile") if ENDPOINT else TronGateway.nile(API_KEY)
    try:
        solid, head = gw.solid_head(), gw.head()
        assert 0 < solid.number <= head.number
        assert gw.trx_balance(key.address) > 0, "fund the Nile key with test TRX first"
        token = os.environ.get("BTT_NILE_TOKEN_ID")
        if token and gw.token_balance(key.address, token) > 0:
            other = SigningKey.generate().address
            tx = gw.build_token_transfer(
                key.address, other, 1, token, memo=b"btt:" + other.encode()
            )
            result = gw.broadcast(gw.sign(tx, key))
            status, _ = gw.confirm(result.txid, timeout_s=90, interval_s=3)
            assert status.value == "success"
    finally:
        gw.close()
