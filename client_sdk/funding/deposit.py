"""Deposit TRC-10 BTT from the wallet's own TRON key to the bridge, and follow it to the credit.

The wallet's key is a TRON key: its address holds the tokens on chain and is also the ledger
account. The transfer carries the memo `btt:<account>`; the bridge credits it once the block is
solidified. TRON (through tronpy) speaks the java-tron HTTP API, so this works against the local
devnode and a public network alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from tronpy import Tron
from tronpy.exceptions import (
    ApiError,
    BugInJavaTron,
    NotFound,
    TransactionError,
    TransactionNotFound,
    UnknownError,
    ValidationError,
)
from tronpy.keys import PrivateKey
from tronpy.providers import HTTPProvider

from client_sdk.ledger_client import LedgerClient
from core.crypto import SigningKey
from core.memo import deposit_memo

# What tronpy raises when the node refuses a call or cannot be reached.
NODE_ERRORS = (
    ApiError,
    BugInJavaTron,
    NotFound,
    TransactionError,
    UnknownError,
    ValidationError,
    requests.RequestException,
)


class DepositError(Exception):
    """The deposit could not be sent or did not arrive; the message says what to do."""


@dataclass(frozen=True)
class Bridge:
    """Where deposits go: a TRON node, the bridge's address and the BTT token id."""

    node_url: str
    address: str
    token_id: str


@dataclass(frozen=True)
class DepositProgress:
    stage: str  # "sent" | "included" | "solidified" | "credited"
    txid: str
    block: int | None = None  # the block that includes the transfer
    confirmations: int = 0  # blocks on top of it so far
    depth: int = 0  # blocks the node needs before a block is solid
    balance: int = 0  # the ledger balance once credited

    def describe(self) -> str:
        if self.stage == "sent":
            return "sent; waiting for a block"
        if self.stage == "included":
            return (
                f"in block {self.block}; waiting for solidification: "
                f"{min(self.confirmations, self.depth)}/{self.depth} blocks"
            )
        if self.stage == "solidified":
            return f"block {self.block} solidified; waiting for the bridge to credit"
        return "credited"


def _client(bridge: Bridge, timeout: float) -> Tron:
    return Tron(HTTPProvider(bridge.node_url, timeout=timeout))


def send(bridge: Bridge, key: SigningKey, amount: int, account: str | None = None) -> str:
    """Broadcast the transfer; returns its txid."""
    tron = _client(bridge, 10.0)
    memo = deposit_memo(account or key.address)
    if amount <= 0:
        raise DepositError("amount must be a positive number of base units")
    try:
        balance = tron.get_account_asset_balance(key.address, int(bridge.token_id))
    except NotFound:
        balance = 0  # an address the chain has never seen
    except requests.RequestException as exc:
        raise DepositError(f"TRON node {bridge.node_url} unreachable: {exc}") from None
    except NODE_ERRORS as exc:
        raise DepositError(f"TRON node {bridge.node_url}: {exc}") from None
    if balance < amount:
        raise DepositError(
            f"{key.address} holds {balance} units of token {bridge.token_id} on chain, below "
            f"{amount} (on a devnet: btt-bridge fund {key.address} 100 --token-id "
            f"{bridge.token_id})"
        )
    try:
        tx = (
            tron.trx.asset_transfer(key.address, bridge.address, amount, int(bridge.token_id))
            .memo(memo)
            .build()
            .sign(PrivateKey(key.secret_bytes()))
            .broadcast()
        )
    except requests.RequestException as exc:
        raise DepositError(f"TRON node {bridge.node_url} unreachable: {exc}") from None
    except NODE_ERRORS as exc:
        raise DepositError(_explain(str(exc), key.address)) from None
    return str(tx.txid)


def _explain(message: str, address: str) -> str:
    if "BANDWITH" in message.upper() or "balance is not sufficient" in message:
        return (
            f"{address} has no TRX to pay the transfer's bandwidth: send it some TRX first "
            f"(on a devnet: btt-bridge fund {address} 10 --trx)"
        )
    return f"TRON node refused the transfer: {message}"


def follow(
    bridge: Bridge,
    txid: str,
    ledger: LedgerClient,
    account: str,
    credited_at_least: int,
    *,
    on_progress: Callable[[DepositProgress], None] = lambda _: None,
    timeout: float = 600.0,
    interval: float = 0.5,
) -> DepositProgress:
    """Poll the chain, then the ledger, until `account` holds `credited_at_least`."""
    tron = _client(bridge, 10.0)
    deadline = time.monotonic() + timeout
    last: DepositProgress | None = None

    def report(p: DepositProgress) -> None:
        nonlocal last
        if p != last:
            on_progress(p)
            last = p

    report(DepositProgress("sent", txid))
    while time.monotonic() < deadline:
        try:
            info = tron.get_transaction_info(txid)
        except TransactionNotFound:
            info = {}
        except NODE_ERRORS as exc:
            raise DepositError(f"TRON node {bridge.node_url}: {exc}") from None
        block = info.get("blockNumber")
        if block is not None:
            if info.get("result") == "FAILED":
                raise DepositError(f"transfer {txid} failed on chain: {info.get('resMessage')}")
            head = tron.get_latest_block_number()
            solid = tron.get_latest_solid_block_number()
            if solid < block:
                report(DepositProgress("included", txid, block, head - block, head - solid))
            else:
                balance = ledger.balance(account)
                if balance >= credited_at_least:
                    done = DepositProgress("credited", txid, block, balance=balance)
                    report(done)
                    return done
                report(DepositProgress("solidified", txid, block))
        time.sleep(interval)
    raise DepositError(f"deposit {txid} not credited within {timeout:.0f} s")
