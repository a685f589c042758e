from __future__ import annotations

import threading
import time

import pytest
from tronpy.proto import tron_pb2

from bridge.devnode import DevNode
from bridge.tron import (
    BandwidthRejected,
    ContractRejected,
    NodeUnavailable,
    SignatureRejected,
    SignedTx,
    TaposRejected,
    TransactionExpired,
    TronGateway,
    TxStatus,
    UnsignedTx,
)
from core.crypto import raw_address
from tests.bridge.conftest import ALICE, BOB, CAROL, SOLID_DEPTH, settle

pytestmark = pytest.mark.timeout(60)


def _resign(raw: tron_pb2.Transaction.raw, key=ALICE) -> SignedTx:  # type: ignore[no-untyped-def]
    tx = UnsignedTx(raw.SerializeToString())
    return SignedTx(tx.raw, key.sign_digest(bytes.fromhex(tx.txid)))


def test_build_sign_broadcast_confirm(node: DevNode, gateway: TronGateway, token: str) -> None:
    tx = gateway.build_token_transfer(ALICE.address, BOB.address, 500, token, memo=b"w:7")
    signed = gateway.sign(tx, ALICE)
    assert signed.txid == tx.txid and len(signed.signature) == 65
    assert SignedTx.from_json(signed.to_json()) == signed
    assert SignedTx.from_bytes(signed.to_bytes()) == signed

    first = gateway.broadcast(signed)
    assert first.txid == signed.txid and not first.already_known
    assert gateway.broadcast(signed).already_known  # idempotent while in the pool
    assert gateway.get_solid_tx_status(signed.txid) == (TxStatus.PENDING, None)
    head = node.produce_blocks(1)
    assert gateway.get_solid_tx_status(signed.txid) == (TxStatus.PENDING, head)
    assert gateway.broadcast(signed).already_known  # and once in a block
    settle(node)
    assert gateway.confirm(signed.txid, timeout_s=2, interval_s=0.05) == (TxStatus.SUCCESS, head)
    assert gateway.token_balance(BOB.address, token) == 500
    transfers = list(gateway.iter_solid_blocks(head, head))
    assert len(transfers) == 1
    t = transfers[0]
    assert (t.txid, t.contract_index, t.owner, t.to) == (signed.txid, 0, ALICE.address, BOB.address)
    assert (t.token_id, t.amount, t.success, t.memo) == (token, 500, True, b"w:7")


def test_sign_refuses_a_key_that_is_not_the_owner(gateway: TronGateway, token: str) -> None:
    tx = gateway.build_token_transfer(ALICE.address, BOB.address, 1, token)
    with pytest.raises(ValueError, match="not the owner"):
        gateway.sign(tx, BOB)


def test_bad_inputs_are_value_errors(gateway: TronGateway, token: str) -> None:
    for amount in (0, -5):
        with pytest.raises(ValueError, match="positive"):
            gateway.build_token_transfer(ALICE.address, BOB.address, amount, token)
    with pytest.raises(ValueError, match="token id"):
        gateway.build_token_transfer(ALICE.address, BOB.address, 1, "BTT")
    with pytest.raises(ValueError, match="TRON address"):
        gateway.build_token_transfer(ALICE.address, "nope", 1, token)
    with pytest.raises(ValueError, match="signed transaction"):
        SignedTx.from_json("{}")


def test_signature_from_another_key_is_sigerror(gateway: TronGateway, token: str) -> None:
    tx = gateway.build_token_transfer(ALICE.address, BOB.address, 1, token)
    with pytest.raises(SignatureRejected) as err:
        gateway.broadcast(_resign(tx.raw_data(), BOB))
    assert err.value.code == "SIGERROR" and "not contained of permission" in err.value.message


def test_unknown_reference_block_is_tapos_error(gateway: TronGateway, token: str) -> None:
    raw = gateway.build_token_transfer(ALICE.address, BOB.address, 1, token).raw_data()
    raw.ref_block_hash = bytes(8)
    with pytest.raises(TaposRejected):
        gateway.broadcast(_resign(raw))
    raw.ref_block_bytes = (60_000).to_bytes(2, "big")  # a block that does not exist yet
    with pytest.raises(TaposRejected):
        gateway.broadcast(_resign(raw))


def test_expiration_window(gateway: TronGateway, token: str) -> None:
    raw = gateway.build_token_transfer(ALICE.address, BOB.address, 1, token).raw_data()
    head = gateway.head()
    raw.expiration = head.timestamp
    with pytest.raises(TransactionExpired):
        gateway.broadcast(_resign(raw))
    raw.expiration = head.timestamp + 24 * 3600 * 1000 + 1
    with pytest.raises(TransactionExpired):
        gateway.broadcast(_resign(raw))
    raw.expiration = head.timestamp + 24 * 3600 * 1000
    assert not gateway.broadcast(_resign(raw)).already_known


@pytest.mark.parametrize(
    ("to", "amount", "token_id", "message"),
    [
        ("bob", 10**13, None, "assetBalance is not sufficient."),
        ("bob", 1, "1999999", "No asset!"),
        ("alice", 1, None, "Cannot transfer asset to yourself."),
        ("bob", 0, None, "Amount must be greater than 0."),
    ],
)
def test_contract_validation_errors(
    gateway: TronGateway, token: str, to: str, amount: int, token_id: str | None, message: str
) -> None:
    raw = gateway.build_token_transfer(ALICE.address, BOB.address, 1, token).raw_data()
    inner = tron_pb2.TransferAssetContract()
    inner.ParseFromString(raw.contract[0].parameter.value)
    inner.amount = amount
    inner.asset_name = (token_id or token).encode()
    inner.to_address = raw_address({"bob": BOB, "alice": ALICE}[to].address)
    raw.contract[0].parameter.value = inner.SerializeToString()
    with pytest.raises(ContractRejected) as err:
        gateway.broadcast(_resign(raw))
    assert err.value.code == "CONTRACT_VALIDATE_ERROR"
    assert err.value.message == f"contract validate error : {message}"


def test_trx_balance_checked_and_burnt_for_bandwidth(
    node: DevNode, gateway: TronGateway, token: str
) -> None:
    # CAROL holds tokens but no TRX: creating BOB's account needs TRX at once...
    tx = gateway.build_token_transfer(ALICE.address, CAROL.address, 10, token)
    gateway.broadcast(gateway.sign(tx, ALICE))
    settle(node)
    with pytest.raises(BandwidthRejected):
        tx = gateway.build_token_transfer(CAROL.address, BOB.address, 1, token)
        gateway.broadcast(gateway.sign(tx, CAROL))
    # ...and once BOB exists the free bandwidth covers two transfers, not a third.
    node.fund(BOB.address, 1)
    first = gateway.sign(
        gateway.build_token_transfer(ALICE.address, CAROL.address, 10, token), ALICE
    )
    gateway.broadcast(first)
    settle(node)
    assert gateway.trx_balance(CAROL.address) == 0
    outcomes = []
    for i in range(4):
        tx = gateway.build_token_transfer(CAROL.address, BOB.address, 1 + i, token)
        try:
            gateway.broadcast(gateway.sign(tx, CAROL))
            outcomes.append("ok")
        except BandwidthRejected as exc:
            assert exc.code == "BANDWITH_ERROR"
            outcomes.append("bandwidth")
    assert outcomes[0] == "ok" and "bandwidth" in outcomes
    with pytest.raises(ContractRejected, match="balance is not sufficient"):
        gateway.broadcast(
            gateway.sign(gateway.build_trx_transfer(ALICE.address, BOB.address, 10**12), ALICE)
        )
    # Beyond the free allowance ALICE pays 1,000 sun per byte.
    before = gateway.trx_balance(ALICE.address, solid=False)
    fees = 0
    for _ in range(4):
        r = gateway.trx_transfer(ALICE, BOB.address, 1)
        node.produce_blocks(1)
        info = gateway._call("wallet/gettransactioninfobyid", {"value": r.txid})
        fees += info.get("fee", 0)
        if info.get("receipt", {}).get("net_fee"):
            assert info["fee"] == info["receipt"]["net_fee"] > 100_000
    assert fees > 0
    assert gateway.trx_balance(ALICE.address, solid=False) == before - 4 - fees


def test_dropped_broadcast_can_be_rebroadcast_until_expiry(
    node: DevNode, gateway: TronGateway, token: str
) -> None:
    signed = gateway.sign(gateway.build_token_transfer(ALICE.address, BOB.address, 3, token), ALICE)
    node.set_faults(drop_next=1)
    assert not gateway.broadcast(signed).already_known  # "accepted"...
    settle(node)
    assert gateway.get_solid_tx_status(signed.txid) == (TxStatus.UNKNOWN, None)  # ...but gone
    assert not gateway.broadcast(signed).already_known
    settle(node)
    assert gateway.get_solid_tx_status(signed.txid)[0] is TxStatus.SUCCESS

    short = gateway.sign(
        gateway.build_token_transfer(ALICE.address, BOB.address, 4, token, expiration_ms=400),
        ALICE,
    )
    node.set_faults(drop_next=1)
    gateway.broadcast(short)
    time.sleep(max(0.0, (short.expiration - time.time() * 1000) / 1000) + 0.05)
    node.produce_blocks(1)
    with pytest.raises(TransactionExpired):
        gateway.broadcast(short)
    settle(node)
    assert gateway.get_solid_tx_status(short.txid) == (TxStatus.UNKNOWN, None)
    assert gateway.token_balance(BOB.address, token) == 3


@pytest.mark.parametrize("include", [True, False])
def test_injected_dup_answer(
    node: DevNode, gateway: TronGateway, token: str, include: bool
) -> None:
    signed = gateway.sign(gateway.build_token_transfer(ALICE.address, BOB.address, 5, token), ALICE)
    node.set_faults(dup_next=1, dup_include=include)
    assert gateway.broadcast(signed).already_known
    settle(node)
    expected = TxStatus.SUCCESS if include else TxStatus.UNKNOWN
    assert gateway.get_solid_tx_status(signed.txid)[0] is expected


def test_injected_execution_failure(node: DevNode, gateway: TronGateway, token: str) -> None:
    signed = gateway.sign(gateway.build_token_transfer(ALICE.address, BOB.address, 6, token), ALICE)
    node.set_faults(fail_txid=signed.txid)
    gateway.broadcast(signed)
    head = node.produce_blocks(1)
    settle(node)
    assert gateway.get_solid_tx_status(signed.txid) == (TxStatus.FAILED, head)
    info = gateway._call("walletsolidity/gettransactioninfobyid", {"value": signed.txid})
    assert info["result"] == "FAILED" and bytes.fromhex(info["resMessage"]).decode()
    assert gateway.token_balance(BOB.address, token) == 0
    [transfer] = list(gateway.iter_solid_blocks(head, head))
    assert transfer.txid == signed.txid and transfer.success is False


def test_solidification_lag(node: DevNode, gateway: TronGateway, token: str) -> None:
    signed = gateway.sign(gateway.build_token_transfer(ALICE.address, BOB.address, 9, token), ALICE)
    gateway.broadcast(signed)
    head = node.produce_blocks(1)
    for lag in range(SOLID_DEPTH):
        assert gateway.solid_head().number == head - SOLID_DEPTH + lag
        assert gateway.get_solid_tx_status(signed.txid) == (TxStatus.PENDING, head)
        assert gateway.token_balance(BOB.address, token, solid=True) == 0
        assert gateway.token_balance(BOB.address, token, solid=False) == 9
        assert list(gateway.iter_solid_blocks(head, head + 5)) == []
        assert gateway._call("walletsolidity/getblockbynum", {"num": head}) == {}
        node.produce_blocks(1)
    assert gateway.solid_head().number == head
    assert gateway.token_balance(BOB.address, token, solid=True) == 9
    assert gateway.get_solid_tx_status(signed.txid) == (TxStatus.SUCCESS, head)


def test_slow_node_times_out_as_unavailable(node: DevNode, token: str) -> None:
    node.set_faults(delay_ms=500)
    gw = TronGateway(node.url, timeout=0.2)
    with pytest.raises(NodeUnavailable):
        gw.head()
    node.set_faults(delay_ms=0)
    assert gw.head().number >= 1
    gw.close()
    with pytest.raises(NodeUnavailable):
        TronGateway("http://127.0.0.1:9", timeout=1).head()


def test_issue_token_through_transactions(node: DevNode, gateway: TronGateway) -> None:
    node.fund(CAROL.address, 1_100_000_000)
    node.produce_blocks(1)
    stop = threading.Event()

    def produce() -> None:
        while not stop.wait(0.05):
            node.produce_blocks(1)

    t = threading.Thread(target=produce)
    t.start()
    try:
        token_id = gateway.issue_token(CAROL, "CAROLT", 5_000, precision=0, timeout_s=10)
    finally:
        stop.set()
        t.join()
    assert gateway.token_balance(CAROL.address, token_id, solid=False) == 5_000
    assert gateway.trx_balance(CAROL.address, solid=False) < 1_100_000_000 - 1_024_000_000 + 1
    with pytest.raises(ContractRejected, match="only issue one asset"):
        gateway.issue_token(CAROL, "AGAIN", 1, timeout_s=1)
