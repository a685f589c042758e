"""The devnode's parts on their own: admission checks and execution, without a server."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from google.protobuf import any_pb2
from tronpy.proto import tron_pb2

from bridge.devnode.blocks import make_block, tx_trie_root
from bridge.devnode.config import ChainConfig
from bridge.devnode.execution import Executor, ResourceError, ValidateError
from bridge.devnode.state import SCHEMA, TRX, AccountRow, StateView
from bridge.devnode.txcodec import txid_of, unpack_contract
from bridge.devnode.validation import (
    MAX_EXPIRATION_MS,
    BroadcastRefused,
    check_expiration,
    check_shape,
    check_signature,
    check_tapos,
)
from core.crypto import SigningKey, raw_address
from tests.bridge.conftest import ALICE, BOB

BLOCK_ID = bytes(range(32))


def transfer(amount: int, *, to: SigningKey = BOB, ref: bytes = BLOCK_ID) -> tron_pb2.Transaction:
    contract = tron_pb2.TransferContract(
        owner_address=raw_address(ALICE.address), to_address=raw_address(to.address), amount=amount
    )
    raw = tron_pb2.Transaction.raw(
        ref_block_bytes=(7).to_bytes(8, "big")[6:8], ref_block_hash=ref[8:16], expiration=10_000
    )
    raw.contract.add(
        type=tron_pb2.Transaction.Contract.ContractType.TransferContract,
        parameter=any_pb2.Any(
            type_url="type.googleapis.com/protocol.TransferContract",
            value=contract.SerializeToString(),
        ),
    )
    tx = tron_pb2.Transaction(raw_data=raw)
    tx.signature.append(ALICE.sign_digest(bytes.fromhex(txid_of(raw))))
    return tx


def test_admission_checks_answer_with_java_trons_codes() -> None:
    tx = transfer(5)
    check_shape(tx)
    blocks = {7: BLOCK_ID}
    check_tapos(tx.raw_data, 10, blocks.get)
    for head, found in ((10, {}), (10, {7: bytes(32)})):
        with pytest.raises(BroadcastRefused) as err:
            check_tapos(tx.raw_data, head, found.get)
        assert err.value.code == "TAPOS_ERROR"
    check_expiration(tx.raw_data, 9_999)
    for head in (10_000, 10_000 - MAX_EXPIRATION_MS - 1):
        with pytest.raises(BroadcastRefused, match="TRANSACTION_EXPIRATION_ERROR"):
            check_expiration(tx.raw_data, head)
    owner = raw_address(ALICE.address)
    check_signature(tx, txid_of(tx.raw_data), owner)
    with pytest.raises(
        BroadcastRefused, match=r"SIGERROR: validate signature error T\w+ is not contained"
    ):
        check_signature(tx, txid_of(tx.raw_data), raw_address(BOB.address))
    del tx.signature[:]
    with pytest.raises(BroadcastRefused, match="miss sig"):
        check_signature(tx, txid_of(tx.raw_data), owner)
    tx.raw_data.contract.add()
    with pytest.raises(BroadcastRefused, match="contract size should be exactly 1"):
        check_shape(tx)


def test_execution_moves_trx_charges_bandwidth_and_refuses_overdrafts() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    config = ChainConfig(free_bandwidth=0, fee_per_byte=10)
    executor = Executor(config)
    view = StateView(db)
    alice, bob = raw_address(ALICE.address), raw_address(BOB.address)
    view.put_account(alice, AccountRow(0, 0, 0, 0))
    view.add(alice, TRX, 500_000)
    tx = transfer(1_000)
    inner = unpack_contract(tx.raw_data.contract[0])
    with pytest.raises(ValidateError, match="balance is not sufficient"):
        executor.execute(tx, inner, view.child(), 1, 1, 1)  # creating BOB costs 1 TRX more
    view.put_account(bob, AccountRow(0, 0, 0, 0))
    fee, net_usage, net_fee, asset = executor.execute(tx, inner, view, 1, 1, 1)
    assert (net_usage, asset) == (0, None) and fee == net_fee > 0
    assert view.balance(alice, TRX) == 500_000 - 1_000 - fee and view.balance(bob, TRX) == 1_000
    poor = StateView(db)
    poor.put_account(alice, AccountRow(0, 0, 0, 0))
    poor.put_account(bob, AccountRow(0, 0, 0, 0))
    with pytest.raises(ResourceError):
        executor.execute(tx, inner, poor, 1, 1, 1)
    assert executor.run_in_block(tx, txid_of(tx.raw_data), poor, 1, 1, 1) is None
    receipt = executor.run_in_block(tx, txid_of(tx.raw_data), view, 2, 2, 1, fail=True)
    assert receipt is not None and receipt.failure and receipt.fee == net_fee


def test_blocks_commit_to_their_txs() -> None:
    txs = [transfer(n) for n in (1, 2, 3)]
    block = make_block(txs, 5, 1_000, bytes(32))
    assert block.block_id[:8] == (5).to_bytes(8, "big")
    leaves = [hashlib.sha256(tx.SerializeToString()).digest() for tx in txs]
    pair = hashlib.sha256(leaves[0] + leaves[1]).digest()
    assert tx_trie_root(txs) == hashlib.sha256(pair + leaves[2]).digest()
    assert block.header.raw_data.txTrieRoot == tx_trie_root(txs)
    assert tx_trie_root([]) == bytes(32)
