"""Hashcash-style proof of work: find a `solution` so that SHA-256(challenge || solution) starts
with `bits` zero bits. Checking costs one hash; finding costs about 2**bits hashes on average.

Shared by the ledger (which checks) and the client (which solves).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

SOLUTION_BYTES = 8
MAX_BITS = 40  # ~10**12 hashes: far past anything an operator would ask of a browser or CLI


def work_hash(challenge: bytes, solution: int) -> bytes:
    return hashlib.sha256(challenge + solution.to_bytes(SOLUTION_BYTES, "big")).digest()


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def satisfies(challenge: bytes, solution: int, bits: int) -> bool:
    if not 0 <= solution < 2 ** (8 * SOLUTION_BYTES):
        return False
    return leading_zero_bits(work_hash(challenge, solution)) >= bits


def expected_hashes(bits: int) -> int:
    return 2**bits


def solve(
    challenge: bytes,
    bits: int,
    *,
    start: int = 0,
    on_progress: Callable[[int], None] | None = None,
    report_every: int = 1 << 15,
) -> int:
    """The first solution at or after `start`; `on_progress(hashes_tried)` every so often."""
    if not 0 <= bits <= MAX_BITS:
        raise ValueError(f"difficulty must be 0..{MAX_BITS} bits")
    prefix = hashlib.sha256(challenge)
    limit = 1 << (256 - bits)  # a digest below this has `bits` leading zero bits
    solution = start
    tried = 0
    while True:
        h = prefix.copy()
        h.update(solution.to_bytes(SOLUTION_BYTES, "big"))
        if int.from_bytes(h.digest(), "big") < limit:
            if on_progress is not None:
                on_progress(tried + 1)
            return solution
        solution += 1
        tried += 1
        if on_progress is not None and tried % report_every == 0:
            on_progress(tried)
