from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.devnode import DevNode, running_devnode
from bridge.tron import TronGateway
from core.crypto import SigningKey

SOLID_DEPTH = 2
ALICE = SigningKey.from_bytes(bytes([0x11]) * 32)
BOB = SigningKey.from_bytes(bytes([0x22]) * 32)
CAROL = SigningKey.from_bytes(bytes([0x33]) * 32)


def settle(node: DevNode) -> int:
    """Produce enough blocks for everything so far to be solidified."""
    return node.produce_blocks(SOLID_DEPTH + 1)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DevNode]:
    with running_devnode(tmp_path / "chain", block_interval=0, solid_depth=SOLID_DEPTH) as n:
        yield n


@pytest.fixture
def gateway(node: DevNode) -> Iterator[TronGateway]:
    gw = TronGateway(node.url, network="devnode", timeout=5.0)
    yield gw
    gw.close()


@pytest.fixture
def token(node: DevNode) -> str:
    """A token held by ALICE, who also has 100 TRX for fees."""
    token_id = node.issue_token(ALICE.address, "BTT", 10**12)
    node.fund(ALICE.address, 100_000_000)
    settle(node)
    return token_id


# Bridge fixtures: a devnode (blocks on demand), a real ledger server, and a bridge config.

BRIDGE = SigningKey.from_bytes(bytes([0x44]) * 32)  # the bridge's hot key
DAVE = SigningKey.from_bytes(bytes([0x55]) * 32)  # a ledger user


@pytest.fixture
def bridge_env(node: DevNode, token: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A ledger server and a BridgeConfig for a bridge whose address holds 100 TRX for fees."""
    from bridge.config import BridgeConfig
    from tests.ledger_harness import TREASURY_TOKEN, running_ledger

    node.fund(BRIDGE.address, 100_000_000)
    settle(node)
    with running_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        config = BridgeConfig(
            node_url=node.url,
            ledger=ledger.target,
            treasury_token=TREASURY_TOKEN,
            db=f"sqlite:///{tmp_path / 'bridge.db'}",
            token_id=token,
            hot_key=BRIDGE.secret_bytes().hex(),
            poll_interval=0.05,
            tx_lifetime_ms=60_000,
        )
        yield ledger, config
