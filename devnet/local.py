"""`btt devnet`: a local ledger, TRON devnode and bridge that keep their state between runs.

Everything lives in `<btt home>/devnet/`: the ledger's and the bridge's SQLite databases, the
devnode's chain and `state.json` (keys, token id, treasury token; readable by its owner only).
The first start issues a TRC-10 "BTT" token to an issuer key, gives the bridge's hot address TRX
for bandwidth and funds the promotional faucet's pool with a real deposit through the bridge. A
restart finds all of that again and only tops up what ran low.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pydantic import SecretStr

from bridge.config import BridgeConfig
from bridge.devnode import DevNode, running_devnode
from bridge.devtools import devnode_fund, devnode_issue_token
from bridge.runner import BridgeRunner
from client_sdk.funding import deposit
from client_sdk.ledger_client import LedgerClient
from core.crypto import SigningKey
from core.files import create_private
from core.types import UNITS_PER_BTT, Amount
from ledger.embedded import serving_in_thread
from ledger.faucet import FaucetPolicy
from ledger.rpc.server import RunningLedger, build_service
from ledger.service import LedgerService

TOKEN_SUPPLY = 10**15  # units: a billion BTT, all held by the issuer at first
TRX = 1_000_000  # sun
HOT_TRX = 1_000 * TRX  # the bridge's bandwidth for many payouts
ISSUER_TRX = 100 * TRX
POOL_TARGET = 10_000 * UNITS_PER_BTT


class DevnetError(RuntimeError):
    """A step of starting the devnet did not finish; the message says which."""


@dataclass(frozen=True)
class DevnetSettings:
    ledger: str = "127.0.0.1:50051"
    node_listen: str = "127.0.0.1:8090"
    block_interval: float = 0.5
    solid_depth: int = 19
    faucet_amount: int = 10 * UNITS_PER_BTT
    faucet_difficulty: int = 18
    faucet_per_address: int = 100  # every local wallet claims from 127.0.0.1


@dataclass(frozen=True)
class DevnetState:
    """What a restart must find again (keys are hex)."""

    treasury_token: str
    issuer_key: str
    hot_key: str
    pool_key: str
    token_id: str = ""

    @classmethod
    def load_or_create(cls, path: Path) -> DevnetState:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        state = cls(
            treasury_token=secrets.token_hex(16),
            issuer_key=SigningKey.generate().secret_bytes().hex(),
            hot_key=SigningKey.generate().secret_bytes().hex(),
            pool_key=SigningKey.generate().secret_bytes().hex(),
        )
        state.save(path)
        return state

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=2)
        tmp.replace(path)

    @property
    def issuer(self) -> SigningKey:
        return SigningKey.from_hex(self.issuer_key)

    @property
    def hot(self) -> SigningKey:
        return SigningKey.from_hex(self.hot_key)

    @property
    def pool(self) -> SigningKey:
        return SigningKey.from_hex(self.pool_key)


@dataclass
class Devnet:
    directory: Path
    settings: DevnetSettings
    state: DevnetState
    service: LedgerService
    ledger: RunningLedger
    node: DevNode
    bridge: BridgeRunner

    def env(self) -> dict[str, str]:
        """What `btt` and `btt-bridge` need to find this devnet."""
        return {
            "BTT_LEDGER": self.settings.ledger,
            "BTT_BRIDGE_LEDGER": self.settings.ledger,
            "BTT_BRIDGE_NODE_URL": self.node.url,
            "BTT_BRIDGE_TOKEN_ID": self.state.token_id,
            "BTT_BRIDGE_BRIDGE_ADDRESS": self.bridge.address,
            "BTT_BRIDGE_DB": f"sqlite:///{self.directory / 'bridge.db'}",
        }

    def deposit_target(self) -> deposit.Bridge:
        return deposit.Bridge(self.node.url, self.bridge.address, self.state.token_id)


def _host_port(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise DevnetError(f"expected HOST:PORT, got {listen!r}")
    return host or "127.0.0.1", int(port)


@contextmanager
def running_devnet(
    home: Path, settings: DevnetSettings, *, on_step: Callable[[str], None] = lambda _: None
) -> Iterator[Devnet]:
    directory = home / "devnet"
    directory.mkdir(parents=True, exist_ok=True)
    state_path = directory / "state.json"
    state = DevnetState.load_or_create(state_path)
    faucet = FaucetPolicy(
        pool=state.pool.address,
        amount=Amount(settings.faucet_amount),
        difficulty_bits=settings.faucet_difficulty,
        per_address=settings.faucet_per_address,
    )
    host, port = _host_port(settings.node_listen)
    with ExitStack() as stack:
        for db in ("ledger.db", "bridge.db"):  # money data: owner only
            create_private(directory / db)
        service = build_service(f"sqlite:///{directory / 'ledger.db'}", migrate=True, faucet=faucet)
        stack.callback(service.store.dispose)
        running = stack.enter_context(
            serving_in_thread(service, settings.ledger, treasury_token=state.treasury_token)
        )
        on_step(f"ledger {service.ledger_id} listening on {settings.ledger}")
        node = stack.enter_context(
            running_devnode(
                directory / "chain",
                host=host,
                port=port,
                block_interval=settings.block_interval,
                solid_depth=settings.solid_depth,
            )
        )
        on_step(
            f"TRON devnode on {node.url} (a block every {settings.block_interval} s, "
            f"solid after {settings.solid_depth})"
        )
        if not state.token_id:
            token_id = devnode_issue_token(node.url, state.issuer.address, "BTT", TOKEN_SUPPLY)
            state = replace(state, token_id=token_id)
            state.save(state_path)
            on_step(f"issued TRC-10 token {token_id} (BTT) to {state.issuer.address}")
        bridge = stack.enter_context(
            BridgeRunner(
                BridgeConfig(
                    node_url=node.url,
                    ledger=settings.ledger,
                    treasury_token=SecretStr(state.treasury_token),
                    db=f"sqlite:///{directory / 'bridge.db'}",
                    token_id=state.token_id,
                    hot_key=SecretStr(state.hot_key),
                    poll_interval=0.2,
                )
            )
        )
        for address, trx in ((bridge.address, HOT_TRX), (state.issuer.address, ISSUER_TRX)):
            if bridge.gateway.trx_balance(address, solid=False) < trx // 2:
                devnode_fund(node.url, address, trx)
        bridge.start()
        on_step(f"bridge {bridge.address} watching for deposits")
        net = Devnet(directory, settings, state, service, running, node, bridge)
        _fund_pool(net, on_step)
        yield net


def _fund_pool(net: Devnet, on_step: Callable[[str], None]) -> None:
    """Top the faucet's pool up to its target with a deposit from the issuer, like any user's."""
    pool = net.state.pool.address
    held = net.service.get_account(pool).balance
    if held >= POOL_TARGET // 2:
        on_step(f"faucet pool {pool} holds {held // UNITS_PER_BTT:,} BTT")
        return
    amount = POOL_TARGET - held
    target = net.deposit_target()
    txid = deposit.send(target, net.state.issuer, amount, pool)
    with LedgerClient(net.settings.ledger) as client:
        deposit.follow(
            target,
            txid,
            client,
            pool,
            held + amount,
            on_progress=lambda p: on_step(f"funding the faucet pool: {p.describe()}"),
            timeout=120 + 2 * net.settings.solid_depth * net.settings.block_interval,
        )
    on_step(f"faucet pool {pool} funded with {amount // UNITS_PER_BTT:,} BTT (tx {txid[:16]}...)")
