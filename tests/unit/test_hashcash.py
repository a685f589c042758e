"""Hashcash proof of work: the solver finds the first solution and the check agrees with it."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.hashcash import leading_zero_bits, satisfies, solve, work_hash


def test_leading_zero_bits() -> None:
    assert leading_zero_bits(bytes(32)) == 256
    assert leading_zero_bits(b"\x80" + bytes(31)) == 0
    assert leading_zero_bits(b"\x00\x0f" + b"\xff" * 30) == 12
    assert leading_zero_bits(b"\x00\x00\x01" + bytes(29)) == 23


def test_work_hash_is_sha256_of_challenge_and_8_byte_solution() -> None:
    assert work_hash(b"abc", 258) == hashlib.sha256(b"abc" + bytes(6) + b"\x01\x02").digest()


@settings(max_examples=30, deadline=None)
@given(challenge=st.binary(min_size=1, max_size=80), bits=st.integers(0, 8))
def test_solve_returns_the_first_solution(challenge: bytes, bits: int) -> None:
    found = solve(challenge, bits)
    assert satisfies(challenge, found, bits)
    assert leading_zero_bits(work_hash(challenge, found)) >= bits
    assert not any(satisfies(challenge, n, bits) for n in range(found))


def test_progress_and_bounds() -> None:
    seen: list[int] = []
    found = solve(b"progress", 12, on_progress=seen.append, report_every=256)
    assert seen and seen[-1] == found + 1 and seen == sorted(seen)
    assert not satisfies(b"x", -1, 0) and not satisfies(b"x", 2**64, 0)
    with pytest.raises(ValueError, match="bits"):
        solve(b"x", 41)
