"""The wallet: a password-protected keystore holding the key of one account (a TRON key).

The file format lives in `core.keystore`, so the bridge can read the same keystores.
"""

from core.keystore import (
    CorruptWallet,
    EmptyPassword,
    InvalidKey,
    Wallet,
    WalletError,
    WalletExists,
    WalletNotFound,
    WrongPassword,
)

__all__ = [
    "CorruptWallet",
    "EmptyPassword",
    "InvalidKey",
    "Wallet",
    "WalletError",
    "WalletExists",
    "WalletNotFound",
    "WrongPassword",
]
