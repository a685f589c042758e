"""The promotional faucet's use cases mixed into `LedgerService` (decisions in `ledger.faucet`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import IntegrityError

from core.rejections import Rejected, Rejection
from core.status import EventKind
from core.types import Amount, Timestamp
from ledger import faucet, protocol
from ledger.domain import Account
from ledger.storage.store import Tx
from ledger.usecase import Once

T = TypeVar("T")


class FaucetMixin:
    if TYPE_CHECKING:
        ledger_id: str
        faucet_policy: faucet.FaucetPolicy | None
        _faucet_secret: bytes

        def now(self) -> Timestamp: ...

        def _write(self, work: Callable[[Tx, Timestamp], T], once: Once[T] | None = None) -> T: ...

        def _read(self, work: Callable[[Tx], T]) -> T: ...

    def faucet_challenge(self, account_id: str) -> tuple[bytes, faucet.Challenge]:
        """A sealed challenge for `account_id`; refused at once if it could never be granted."""
        earlier = (
            self._read(lambda tx: tx.faucet_grant(account_id))
            if self.faucet_policy is not None
            else None
        )
        challenge = faucet.issue_challenge(
            self.faucet_policy,
            ledger_id=self.ledger_id,
            account=account_id,
            earlier=earlier,
            now=self.now(),
            salt=secrets.token_bytes(faucet.SALT_BYTES),
        )
        return faucet.seal(challenge, self._faucet_secret), challenge

    def claim_faucet(
        self, account_id: str, token: bytes, solution: int, client: str
    ) -> tuple[faucet.Grant, Account]:
        """Grant the promotional amount once per account; a retry of a granted claim repeats it."""
        policy = faucet.require_policy(self.faucet_policy)
        protocol.check_address(account_id, "account")

        def work(tx: Tx, now: Timestamp) -> tuple[faucet.Grant, Account]:
            # Every claim locks the pool row first, so claims are serialized: the once-per-account
            # and per-address counts below cannot race.
            accounts = tx.accounts([policy.pool, account_id], create_at=now)
            decision = faucet.decide_claim(
                policy,
                ledger_id=self.ledger_id,
                secret=self._faucet_secret,
                account=account_id,
                token=token,
                solution=solution,
                client=client,
                now=now,
                pool=accounts[policy.pool],
                claimant=accounts[account_id],
                earlier=tx.faucet_grant(account_id),
                recent_from_client=tx.faucet_grants_since(client, Timestamp(now - policy.window)),
            )
            grant, claimant = decision.grant, accounts[account_id]
            if decision.movement is None:
                return grant, claimant
            tx.insert_faucet_grant(grant)
            tx.post(
                [decision.movement], op="faucet_grant", reference=f"faucet:{account_id}", at=now
            )
            tx.add_event(
                EventKind.FAUCET_GRANT,
                at=now,
                accounts=[policy.pool, account_id],
                amount=grant.amount,
                reference="faucet",
            )
            return grant, Account(
                account_id, Amount(claimant.balance + grant.amount), claimant.nonce
            )

        try:
            return self._write(work)
        except IntegrityError:
            # Backstop: the primary key refuses a second grant should two claims ever race.
            raise Rejected(
                Rejection.FAUCET_ALREADY_CLAIMED,
                f"account {account_id} already received its promotional grant",
            ) from None
