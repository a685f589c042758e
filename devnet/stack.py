"""The demo's money side: a ledger, a local TRON node and the bridge, all on this machine.

Users get BTT the real way: TRC-10 tokens on the (local) chain, deposited to the bridge's address
and credited on the ledger once solidified; earnings leave the same way, paid by the bridge.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bridge.config import BridgeConfig
from bridge.devnode.server import DevNode, running_devnode
from bridge.devtools import deposit, devnode_fund, devnode_issue_token
from bridge.reconcile import Reconciliation
from bridge.runner import BridgeRunner
from client_sdk.ledger_client import LedgerClient
from core.crypto import SigningKey
from core.files import create_private
from core.status import WithdrawalStatus
from ledger.embedded import serving_in_thread
from ledger.rpc.server import RunningLedger, build_service
from ledger.service import LedgerService
from ledger.usecase import AuditReport

TRX_FOR_FEES = 50_000_000  # sun: bandwidth for a handful of transfers
TOKEN_SUPPLY = 10**15


class DemoError(RuntimeError):
    """A step of the demo did not finish in time; the message says which."""


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class DemoStack:
    workdir: Path
    service: LedgerService
    ledger: RunningLedger
    node: DevNode
    bridge: BridgeRunner
    token_id: str

    @property
    def ledger_target(self) -> str:
        return self.ledger.target

    @property
    def ledger_id(self) -> str:
        return self.service.ledger_id

    def ledger_balance(self, address: str) -> int:
        return self.service.get_account(address).balance

    def chain_balance(self, address: str) -> int:
        return self.bridge.gateway.token_balance(address, self.token_id, solid=False)

    def give_tokens(self, address: str, amount: int) -> None:
        """Tokens on chain (as if bought elsewhere), plus TRX for the transfer's bandwidth."""
        devnode_fund(self.node.url, address, TRX_FOR_FEES)
        devnode_fund(self.node.url, address, amount, self.token_id)

    def deposit(self, key: SigningKey, amount: int, timeout: float = 30.0) -> str:
        """A real TRC-10 transfer to the bridge, credited once its block is solidified."""
        before = self.ledger_balance(key.address)
        txid = deposit(
            self.bridge.gateway, key, self.bridge.address, self.token_id, amount, key.address
        )
        wait_for(
            f"the deposit {txid[:12]}... to be credited",
            lambda: self.ledger_balance(key.address) >= before + amount,
            timeout,
        )
        return txid

    def withdraw(self, key: SigningKey, amount: int, timeout: float = 30.0) -> str:
        """Ask the ledger to pay out on chain; wait until the bridge marked it paid."""
        with LedgerClient(self.ledger_target, key) as client:
            w = client.request_withdrawal(key.address, amount)

        def paid() -> bool:
            found = self.bridge.treasury.withdrawal(w.withdrawal_id)
            if found is not None and found.status == WithdrawalStatus.FAILED:
                raise DemoError(f"withdrawal failed: {found.failure_reason}")
            return found is not None and found.status == WithdrawalStatus.PAID

        wait_for(f"withdrawal {w.withdrawal_id} to be paid on chain", paid, timeout)
        found = self.bridge.treasury.withdrawal(w.withdrawal_id)
        assert found is not None
        return str(found.txid)

    def audit(self) -> AuditReport:
        return self.service.audit()

    def reconcile(self) -> Reconciliation:
        return self.bridge.reconcile()


@contextmanager
def demo_stack(
    workdir: Path, *, block_interval: float = 0.2, solid_depth: int = 3
) -> Iterator[DemoStack]:
    workdir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    with ExitStack() as stack:
        for db in ("ledger.db", "bridge.db"):  # money data: owner only
            create_private(workdir / db)
        service = build_service(
            f"sqlite:///{workdir / 'ledger.db'}", ledger_id="btt-demo", migrate=True
        )
        stack.callback(service.store.dispose)
        running = stack.enter_context(serving_in_thread(service, treasury_token=token))
        node = stack.enter_context(
            running_devnode(
                workdir / "devnode", block_interval=block_interval, solid_depth=solid_depth
            )
        )
        issuer = SigningKey.generate()
        token_id = devnode_issue_token(node.url, issuer.address, "BTT", TOKEN_SUPPLY)
        hot_key = SigningKey.generate()
        devnode_fund(node.url, hot_key.address, TRX_FOR_FEES * 10)
        config = BridgeConfig(
            node_url=node.url,
            ledger=running.target,
            treasury_token=SecretStr(token),
            db=f"sqlite:///{workdir / 'bridge.db'}",
            token_id=token_id,
            hot_key=SecretStr(hot_key.secret_bytes().hex()),
            poll_interval=0.1,
        )
        bridge = stack.enter_context(BridgeRunner(config))
        bridge.start()
        yield DemoStack(workdir, service, running, node, bridge, token_id)
