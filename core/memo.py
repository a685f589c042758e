"""The deposit memo: a TRC-10 transfer to the bridge whose memo is `btt:<account>` is credited
to that ledger account (the bridge's watcher reads it; wallets write it)."""

from __future__ import annotations

MEMO_PREFIX = b"btt:"


def deposit_memo(account: str) -> bytes:
    return MEMO_PREFIX + account.encode()
