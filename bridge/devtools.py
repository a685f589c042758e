"""Helpers for demos and testnet users: issue a token, fund an address, deposit with a memo."""

from __future__ import annotations

from typing import Any

import requests

from bridge.tron import NodeUnavailable, TronError, TronGateway
from core.crypto import SigningKey
from core.memo import deposit_memo


def _admin(node_url: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        resp = requests.post(f"{node_url.rstrip('/')}/devnode/{path}", json=payload, timeout=10)
        resp.raise_for_status()
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise NodeUnavailable(f"devnode {path}: {exc}") from exc
    if "Error" in data:
        raise TronError(str(data["Error"]))
    return dict(data)


def devnode_issue_token(node_url: str, owner: str, name: str, total_supply: int) -> str:
    """A TRC-10 token on a devnode, all of it held by `owner`, without fees or waiting."""
    data = _admin(
        node_url, "issue", {"owner_address": owner, "name": name, "total_supply": total_supply}
    )
    return str(data["token_id"])


def devnode_fund(node_url: str, address: str, amount: int, token_id: str | None = None) -> None:
    """Give an address TRX (sun) or tokens on a devnode, out of thin air."""
    payload: dict[str, Any] = {"address": address, "amount": amount}
    if token_id:
        payload["token_id"] = token_id
    _admin(node_url, "fund", payload)


def deposit(
    gateway: TronGateway,
    key: SigningKey,
    bridge_address: str,
    token_id: str,
    amount: int,
    account: str | None = None,
) -> str:
    """Send `amount` of the token from `key` to the bridge; the memo names `account` if given.

    Returns the txid. Without `account` the sender's binding decides (or suspense).
    """
    memo = deposit_memo(account) if account else None
    tx = gateway.build_token_transfer(key.address, bridge_address, amount, token_id, memo=memo)
    return gateway.broadcast(gateway.sign(tx, key)).txid
