"""Proving possession: a peer that holds a whole torrent answers a paid seeder's reserve-price
challenge, so that seeder's reserve falls back to zero (the content is not rare).

The challenge comes with the reserve price (ReservePrice); the proof is the SHA-256 of the named
16 KiB chunk, read from our own copy (ProvePossession). The downloader proves to every paid
seeder of a torrent once it holds the whole of it; a paid seeder proves to the other paid
seeders of its torrents that it hears of.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from client_sdk.torrent.market import answer_challenge
from client_sdk.torrent.paid.market_rpc import challenge_of, fetch_reserve, prove_possession

log = logging.getLogger(__name__)

ReadChunk = Callable[[int, int], bytes]
ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ProofResult:
    target: str
    accepted: bool
    reserve: int | None
    """The seeder's reserve price after the proof (None: it runs no market)."""
    reason: str = ""


async def prove_to(
    target: str,
    info_hash: str,
    read_chunk: ReadChunk,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    timeout: float = 5.0,
) -> ProofResult:
    """Answer `target`'s current challenge on `info_hash` from our copy; never raises. A
    challenge superseded meanwhile (the seeder's own uploads re-issue it) is asked again."""
    try:
        for _ in range(ATTEMPTS):
            reply = await fetch_reserve(target, info_hash, timeout, credentials)
            if reply is None:
                return ProofResult(target, False, None, "NO_MARKET")
            proof = answer_challenge(challenge_of(reply), read_chunk)
            answer = await prove_possession(target, info_hash, proof, timeout, credentials)
            if answer.accepted or answer.reason != "STALE":
                break
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        return ProofResult(target, False, None, f"UNREACHABLE: {code.name}")
    except OSError as exc:  # our copy is gone or unreadable
        return ProofResult(target, False, None, f"UNREADABLE: {exc.strerror or exc}")
    reserve = int(answer.announcement.reserve_price)
    if not answer.accepted:
        log.info("proof of possession to %s refused: %s", target, answer.reason)
    return ProofResult(target, bool(answer.accepted), reserve, str(answer.reason))
