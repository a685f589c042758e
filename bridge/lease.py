"""One active bridge per ledger: the ledger's lease, taken before a pass and renewed every pass.

The holder id is unique per process, so a second bridge (another host, a restored database, the
same database by mistake) is refused until the first one releases the lease or stops renewing
it. The ledger also refuses payout records from anyone but the holder, so a bridge that lost
its lease mid-pass (paused longer than the lease) cannot sign a payout beside its successor.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time

from client_sdk.ledger_client import LedgerError
from client_sdk.treasury_client import TreasuryClient

log = logging.getLogger("bridge.lease")


def new_holder_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseHeld(Exception):
    """Another bridge holds the ledger's lease."""

    def __init__(self, holder: str, expires_at: int) -> None:
        until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at))
        super().__init__(
            f"another bridge holds the ledger's lease ({holder}, until {until}); it frees when "
            "that bridge stops, or when it stops renewing"
        )
        self.holder, self.expires_at = holder, expires_at


class BridgeLease:
    def __init__(self, treasury: TreasuryClient, ttl_seconds: int, holder: str = "") -> None:
        self.treasury, self.ttl = treasury, ttl_seconds
        self.holder = holder or new_holder_id()
        self.held = False

    def __repr__(self) -> str:
        return f"BridgeLease(holder={self.holder!r}, held={self.held})"

    def ensure(self) -> None:
        """Take or renew the lease; LeaseHeld when another bridge has it."""
        lease = self.treasury.acquire_lease(self.holder, self.ttl)
        if not lease.granted:
            self.held = False
            raise LeaseHeld(lease.holder, lease.expires_at)
        if not self.held:
            log.info("holding the bridge lease as %s", self.holder)
        self.held = True

    def release(self) -> None:
        """Hand the lease back (a clean stop), so another bridge need not wait for its expiry."""
        if not self.held:
            return
        self.held = False
        try:
            self.treasury.release_lease(self.holder)
        except LedgerError as exc:  # it expires by itself
            log.warning("could not release the bridge lease: %s", exc)
