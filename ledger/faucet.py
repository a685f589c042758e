"""The promotional faucet: pure decisions, no I/O (the shape of `ledger.protocol`).

The whitepaper: users "will be able to submit captcha proof of work which will allow them access
to an initial balance of BTT". Here the work is hashcash: the ledger issues a challenge bound to
its ledger id, the account and an expiry, sealed with an HMAC under a secret only the ledger
knows (so challenges need no table); the client finds a solution with `core.hashcash`; a valid
claim moves a fixed amount from the pool account, an ordinary account funded by a bridge deposit,
to the claimant, once per account and at most `per_address` times per window from one network
address. Because the grant is a plain account-to-account movement, conservation and the audit
hold as for any transfer.

Proof of work makes farming promotional funds cost CPU time; it does not stop a determined
farmer with many machines and many addresses. The operator bounds the loss with the pool's size,
the grant amount, the difficulty and the per-address limit.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass

from core import hashcash
from core.crypto import is_address
from core.rejections import Rejected, Rejection
from core.types import MAX_AMOUNT, Amount, Timestamp, check_amount
from ledger.domain import Account
from ledger.protocol import Bucket, Movement, check_address, credit

CHALLENGE_VERSION = 1
SALT_BYTES = 16
TAG_BYTES = 32
_HEADER = b"btt-faucet"
_TIMES = struct.Struct(">qB")  # expires_at, difficulty bits


class FaucetConfigError(ValueError):
    """An operator setting that cannot work; the message says which."""


@dataclass(frozen=True, slots=True)
class FaucetPolicy:
    """What the operator configured. Without one the faucet is off."""

    pool: str  # the ledger account grants are paid from
    amount: Amount  # one grant, in base units
    difficulty_bits: int  # leading zero bits of SHA-256(challenge || solution)
    challenge_ttl: int = 600  # seconds a challenge stays claimable
    per_address: int = 3  # grants per network address per window
    window: int = 86_400  # seconds

    def __post_init__(self) -> None:
        if not is_address(self.pool):
            raise FaucetConfigError(f"faucet pool {self.pool!r} is not a TRON address")
        if not 0 < self.amount <= MAX_AMOUNT:
            raise FaucetConfigError("faucet amount must be a positive number of base units")
        if not 1 <= self.difficulty_bits <= hashcash.MAX_BITS:
            raise FaucetConfigError(f"faucet difficulty must be 1..{hashcash.MAX_BITS} bits")
        if not 10 <= self.challenge_ttl <= 86_400:
            raise FaucetConfigError("faucet challenge lifetime must be 10..86400 seconds")
        if self.per_address < 1 or self.window < 1:
            raise FaucetConfigError("faucet per-address limit and window must be positive")


@dataclass(frozen=True, slots=True)
class Challenge:
    """What a challenge binds; sealed into opaque bytes by `seal`."""

    ledger_id: str
    account: str
    expires_at: Timestamp
    difficulty_bits: int
    salt: bytes


@dataclass(frozen=True, slots=True)
class Grant:
    """One account's promotional grant, as stored."""

    account: str
    amount: Amount
    challenge_digest: bytes  # SHA-256 of the sealed challenge it was claimed with
    client: str  # the network address it came from
    granted_at: Timestamp


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    """A new grant (its movement and record), or `repeat`: this very claim was already granted."""

    movement: Movement | None
    grant: Grant
    repeat: bool = False


def _field(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">H", len(raw)) + raw


def _body(c: Challenge) -> bytes:
    return (
        _HEADER
        + bytes([CHALLENGE_VERSION])
        + _field(c.ledger_id)
        + _field(c.account)
        + _TIMES.pack(c.expires_at, c.difficulty_bits)
        + c.salt
    )


def seal(challenge: Challenge, secret: bytes) -> bytes:
    body = _body(challenge)
    return body + hmac.new(secret, body, hashlib.sha256).digest()


def unseal(token: bytes, secret: bytes) -> Challenge:
    """The challenge inside `token`, refused unless this ledger's secret sealed it."""
    invalid = Rejected(
        Rejection.FAUCET_CHALLENGE_INVALID, "challenge was not issued by this ledger"
    )
    if len(token) <= TAG_BYTES:
        raise invalid
    body, tag = token[:-TAG_BYTES], token[-TAG_BYTES:]
    if not hmac.compare_digest(tag, hmac.new(secret, body, hashlib.sha256).digest()):
        raise invalid
    try:
        if body[: len(_HEADER)] != _HEADER or body[len(_HEADER)] != CHALLENGE_VERSION:
            raise invalid
        at = len(_HEADER) + 1
        parts: list[str] = []
        for _ in range(2):
            (size,) = struct.unpack_from(">H", body, at)
            parts.append(body[at + 2 : at + 2 + size].decode())
            at += 2 + size
        expires_at, bits = _TIMES.unpack_from(body, at)
        salt = body[at + _TIMES.size :]
    except (IndexError, struct.error, UnicodeDecodeError):
        raise invalid from None
    return Challenge(parts[0], parts[1], Timestamp(expires_at), bits, salt)


def challenge_digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def require_policy(policy: FaucetPolicy | None) -> FaucetPolicy:
    if policy is None:
        raise Rejected(Rejection.FAUCET_DISABLED, "this ledger has no promotional faucet")
    return policy


def _refuse_second_grant(earlier: Grant | None) -> None:
    if earlier is not None:
        raise Rejected(
            Rejection.FAUCET_ALREADY_CLAIMED,
            f"account {earlier.account} already received its promotional grant of "
            f"{earlier.amount} units at {earlier.granted_at}; the faucet grants once per account",
        )


def issue_challenge(
    policy: FaucetPolicy | None,
    *,
    ledger_id: str,
    account: str,
    earlier: Grant | None,
    now: Timestamp,
    salt: bytes,
) -> Challenge:
    """A fresh challenge for `account` (refused up front when it can never be granted)."""
    policy = require_policy(policy)
    check_address(account, "account")
    if account == policy.pool:
        raise Rejected(Rejection.SELF_TRANSFER, "the faucet pool cannot claim from itself")
    _refuse_second_grant(earlier)
    if len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be {SALT_BYTES} bytes")
    return Challenge(
        ledger_id, account, Timestamp(now + policy.challenge_ttl), policy.difficulty_bits, salt
    )


def decide_claim(
    policy: FaucetPolicy | None,
    *,
    ledger_id: str,
    secret: bytes,
    account: str,
    token: bytes,
    solution: int,
    client: str,
    now: Timestamp,
    pool: Account,
    claimant: Account,
    earlier: Grant | None,
    recent_from_client: int,
) -> ClaimDecision:
    """Check a claim against the sealed challenge, the work, the limits and the pool."""
    policy = require_policy(policy)
    check_address(account, "account")
    challenge = unseal(token, secret)
    if challenge.ledger_id != ledger_id or challenge.account != account:
        raise Rejected(
            Rejection.FAUCET_CHALLENGE_INVALID,
            "challenge was issued for another account or ledger",
        )
    if not hashcash.satisfies(token, solution, challenge.difficulty_bits):
        raise Rejected(
            Rejection.FAUCET_WORK_INSUFFICIENT,
            f"solution does not give {challenge.difficulty_bits} leading zero bits",
        )
    digest = challenge_digest(token)
    if earlier is not None and earlier.challenge_digest == digest:
        return ClaimDecision(None, earlier, repeat=True)  # a retry of the claim that succeeded
    _refuse_second_grant(earlier)
    if now >= challenge.expires_at:
        raise Rejected(
            Rejection.FAUCET_CHALLENGE_EXPIRED,
            f"challenge expired at {challenge.expires_at}: ask for a new one",
        )
    if recent_from_client >= policy.per_address:
        raise Rejected(
            Rejection.FAUCET_RATE_LIMITED,
            f"{client} already claimed {recent_from_client} grants in the last "
            f"{policy.window} s (limit {policy.per_address})",
        )
    amount = check_amount(policy.amount, "faucet amount")
    if pool.balance < amount:
        raise Rejected(
            Rejection.FAUCET_EMPTY,
            f"the faucet pool holds {pool.balance} units, below one grant of {amount}",
        )
    credit(claimant.balance, amount, "balance")
    grant = Grant(account, amount, digest, client, now)
    movement = Movement(Bucket.account(policy.pool), Bucket.account(account), amount)
    return ClaimDecision(movement, grant)


def client_key(peer: str) -> str:
    """The per-address rate-limit key of a gRPC peer string: the IPv4 address or IPv6 /64.

    'ipv4:203.0.113.7:5123' -> '203.0.113.7'; 'ipv6:[2001:db8:1:2::9]:5123' -> '2001:db8:1:2::/64';
    anything else (unix sockets) -> the transport name.
    """
    kind, _, rest = peer.partition(":")
    try:
        if kind == "ipv4":
            return str(ipaddress.IPv4Address(rest.rsplit(":", 1)[0]))
        if kind == "ipv6":
            host = rest.rsplit(":", 1)[0].strip("[]").split("%")[0]
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
    except ValueError:
        pass
    return kind or "unknown"
