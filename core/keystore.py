"""Password-protected keystore, the wallet's file format (the bridge reads it too): one secp256k1
key per file, scrypt + AES-256-GCM.

The file is JSON:
    {"version": 1, "address": "T...", "kdf": "scrypt", "kdf_params": {"n": 32768, "r": 8, "p": 1},
     "cipher": "aes-256-gcm", "salt": hex, "nonce": hex, "ciphertext": hex}
The address is bound to the ciphertext as associated data, so editing it breaks decryption.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.crypto import SigningKey, is_address
from core.types import Address

log = logging.getLogger(__name__)

WALLET_VERSION = 1
KDF_NAME = "scrypt"
CIPHER_NAME = "aes-256-gcm"
DEFAULT_SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
# A crafted file must not make us allocate gigabytes: 2**20 * 128 * 8 bytes = 1 GiB is the ceiling.
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 16
MAX_SCRYPT_P = 16
SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32
_AAD_PREFIX = b"btt-wallet/v1\x00"


def looks_like_keystore(text: str) -> bool:
    """A keystore is a JSON object; a raw key file holds 64 hex characters."""
    return text.lstrip().startswith("{")


class WalletError(Exception):
    """Base of every keystore error; messages are one line and never carry key material."""


class WalletNotFound(WalletError):
    pass


class WalletExists(WalletError):
    pass


class WrongPassword(WalletError):
    pass


class CorruptWallet(WalletError):
    pass


class InvalidKey(WalletError):
    pass


class EmptyPassword(WalletError):
    pass


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = DEFAULT_SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def validate(self) -> None:
        if not (2 <= self.n <= MAX_SCRYPT_N) or self.n & (self.n - 1):
            raise ValueError("scrypt n must be a power of two between 2 and 2**20")
        if not (1 <= self.r <= MAX_SCRYPT_R) or not (1 <= self.p <= MAX_SCRYPT_P):
            raise ValueError("scrypt r and p must be between 1 and 16")


@dataclass(frozen=True, slots=True, repr=False)
class Wallet:
    """A decrypted wallet. Neither repr nor str shows the secret."""

    path: Path
    signing_key: SigningKey

    @property
    def address(self) -> Address:
        return self.signing_key.address

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        password: str,
        *,
        overwrite: bool = False,
        scrypt_n: int = DEFAULT_SCRYPT_N,
    ) -> Wallet:
        return cls._store(Path(path), SigningKey.generate(), password, overwrite, scrypt_n)

    @classmethod
    def import_hex(
        cls,
        path: str | os.PathLike[str],
        hex_key: str,
        password: str,
        *,
        overwrite: bool = False,
        scrypt_n: int = DEFAULT_SCRYPT_N,
    ) -> Wallet:
        try:
            key = SigningKey.from_hex(hex_key)
        except ValueError:
            # The original message is safe, but chaining would keep the input in the traceback.
            raise InvalidKey("not a valid private key: expected 64 hex characters") from None
        return cls._store(Path(path), key, password, overwrite, scrypt_n)

    @classmethod
    def load(cls, path: str | os.PathLike[str], password: str) -> Wallet:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise WalletNotFound(f"no wallet at {path}") from None
        except IsADirectoryError:
            raise CorruptWallet(f"wallet path {path} is a directory") from None
        _warn_if_readable_by_others(path)
        sealed = _parse(raw, path)
        secret = _open(sealed, password, path)
        try:
            key = SigningKey.from_bytes(secret)
        except ValueError:
            raise CorruptWallet(f"wallet {path} holds an invalid key") from None
        if key.address != sealed.address:
            raise CorruptWallet(f"wallet {path} key does not match its address")
        return cls(path, key)

    @staticmethod
    def address_at(path: str | os.PathLike[str]) -> Address:
        """The address a keystore is for, without its password (it is stored in clear)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise WalletNotFound(f"no wallet at {path}") from None
        except IsADirectoryError:
            raise CorruptWallet(f"wallet path {path} is a directory") from None
        return _parse(raw, path).address

    def change_password(self, new_password: str, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self._store(self.path, self.signing_key, new_password, True, scrypt_n)

    @classmethod
    def _store(
        cls, path: Path, key: SigningKey, password: str, overwrite: bool, scrypt_n: int
    ) -> Wallet:
        if not password:
            raise EmptyPassword("the wallet password must not be empty")
        if not overwrite and path.exists():
            raise WalletExists(f"a wallet already exists at {path}")
        params = ScryptParams(n=scrypt_n)
        params.validate()
        document = _seal(key, password, params)
        _write_atomically(path, json.dumps(document, indent=2).encode() + b"\n", overwrite)
        return cls(path, key)

    def __repr__(self) -> str:
        return f"Wallet(address={self.address}, path={str(self.path)!r})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class _Sealed:
    address: Address
    params: ScryptParams
    salt: bytes
    nonce: bytes
    ciphertext: bytes


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    # NFKC so the same password typed on different keyboards or systems opens the wallet.
    secret = unicodedata.normalize("NFKC", password).encode()
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(secret)


def _aad(address: str) -> bytes:
    return _AAD_PREFIX + address.encode()


def _seal(key: SigningKey, password: str, params: ScryptParams) -> dict[str, Any]:
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    address = key.address
    ciphertext = AESGCM(_derive(password, salt, params)).encrypt(
        nonce, key.secret_bytes(), _aad(address)
    )
    return {
        "version": WALLET_VERSION,
        "address": address,
        "kdf": KDF_NAME,
        "kdf_params": {"n": params.n, "r": params.r, "p": params.p},
        "cipher": CIPHER_NAME,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
    }


def _open(sealed: _Sealed, password: str, path: Path) -> bytes:
    key = _derive(password, sealed.salt, sealed.params)
    try:
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, _aad(sealed.address))
    except InvalidTag:
        # GCM cannot tell a wrong password from an edited file; the password is the usual cause.
        raise WrongPassword(f"wrong password for wallet {path} (or the file was altered)") from None


def _parse(raw: bytes, path: Path) -> _Sealed:
    def corrupt(why: str) -> CorruptWallet:
        return CorruptWallet(f"wallet {path} is corrupt: {why}")

    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise corrupt("not JSON") from None
    if not isinstance(doc, dict):
        raise corrupt("not a JSON object")
    if doc.get("version") != WALLET_VERSION:
        raise corrupt(f"unsupported version {doc.get('version')!r}")
    if doc.get("kdf") != KDF_NAME or doc.get("cipher") != CIPHER_NAME:
        raise corrupt("unsupported kdf or cipher")
    address = doc.get("address")
    if not isinstance(address, str) or not is_address(address):
        raise corrupt("bad address")
    kdf_params = doc.get("kdf_params")
    if not isinstance(kdf_params, dict):
        raise corrupt("missing kdf_params")
    try:
        n, r, p = (kdf_params[name] for name in ("n", "r", "p"))
    except KeyError:
        raise corrupt("incomplete kdf_params") from None
    if not all(type(v) is int for v in (n, r, p)):
        raise corrupt("kdf_params must be integers")
    params = ScryptParams(n=n, r=r, p=p)
    try:
        params.validate()
    except ValueError as exc:
        raise corrupt(str(exc)) from None
    fields: dict[str, bytes] = {}
    for name, length in (("salt", None), ("nonce", NONCE_BYTES), ("ciphertext", KEY_BYTES + 16)):
        value = doc.get(name)
        if not isinstance(value, str):
            raise corrupt(f"missing {name}")
        try:
            fields[name] = bytes.fromhex(value)
        except ValueError:
            raise corrupt(f"{name} is not hex") from None
        if length is not None and len(fields[name]) != length:
            raise corrupt(f"{name} has the wrong length")
    if len(fields["salt"]) < SALT_BYTES:
        raise corrupt("salt is too short")
    return _Sealed(Address(address), params, fields["salt"], fields["nonce"], fields["ciphertext"])


def _write_atomically(path: Path, data: bytes, overwrite: bool) -> None:
    """Write via a 0600 temp file in the same directory, then rename (or link, to never clobber)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the path appeared meanwhile: no race, no clobber
            except FileExistsError:
                raise WalletExists(f"a wallet already exists at {path}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _warn_if_readable_by_others(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("wallet %s is accessible by other users (mode %o)", path, mode & 0o777)
