from __future__ import annotations

import json
import logging
import os
import stat
import traceback
from pathlib import Path

import pytest

from client_sdk.wallet import (
    CorruptWallet,
    EmptyPassword,
    InvalidKey,
    Wallet,
    WalletExists,
    WalletNotFound,
    WrongPassword,
)
from core.crypto import SigningKey

FAST_N = 2**4
SECRET_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SECRET_ADDRESS = SigningKey.from_hex(SECRET_HEX).address


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wallets" / "main.json"


def test_create_then_load_roundtrip(path: Path) -> None:
    created = Wallet.create(path, "pw", scrypt_n=FAST_N)
    loaded = Wallet.load(path, "pw")
    assert loaded.address == created.address
    assert loaded.signing_key.secret_bytes() == created.signing_key.secret_bytes()


def test_import_hex_keeps_the_key(path: Path) -> None:
    wallet = Wallet.import_hex(path, "0x" + SECRET_HEX, "pw", scrypt_n=FAST_N)
    assert wallet.address == SECRET_ADDRESS
    assert Wallet.load(path, "pw").signing_key.secret_bytes().hex() == SECRET_HEX


def test_file_format_and_default_params(path: Path) -> None:
    Wallet.import_hex(path, SECRET_HEX, "pw")  # default n=2**15, the real cost
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert doc["address"] == SECRET_ADDRESS
    assert doc["kdf"] == "scrypt"
    assert doc["kdf_params"] == {"n": 2**15, "r": 8, "p": 1}
    assert doc["cipher"] == "aes-256-gcm"
    assert len(bytes.fromhex(doc["salt"])) == 16
    assert len(bytes.fromhex(doc["nonce"])) == 12
    assert len(bytes.fromhex(doc["ciphertext"])) == 48
    assert SECRET_HEX not in path.read_text()


def test_file_mode_is_0600_even_with_permissive_umask(path: Path) -> None:
    old = os.umask(0)
    try:
        Wallet.create(path, "pw", scrypt_n=FAST_N)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_wrong_password_is_a_clear_error(path: Path) -> None:
    Wallet.create(path, "right", scrypt_n=FAST_N)
    with pytest.raises(WrongPassword, match="wrong password"):
        Wallet.load(path, "wrong")


def test_password_is_unicode_normalized(path: Path) -> None:
    Wallet.create(path, "caf\u00e9", scrypt_n=FAST_N)  # precomposed
    assert Wallet.load(path, "cafe\u0301").address  # decomposed


def test_missing_wallet(tmp_path: Path) -> None:
    with pytest.raises(WalletNotFound):
        Wallet.load(tmp_path / "nope.json", "pw")


def test_refuses_to_overwrite_unless_asked(path: Path) -> None:
    first = Wallet.create(path, "pw", scrypt_n=FAST_N)
    with pytest.raises(WalletExists):
        Wallet.create(path, "pw", scrypt_n=FAST_N)
    with pytest.raises(WalletExists):
        Wallet.import_hex(path, SECRET_HEX, "pw", scrypt_n=FAST_N)
    assert Wallet.load(path, "pw").address == first.address
    second = Wallet.import_hex(path, SECRET_HEX, "pw", overwrite=True, scrypt_n=FAST_N)
    assert Wallet.load(path, "pw").address == second.address == SECRET_ADDRESS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_change_password(path: Path) -> None:
    wallet = Wallet.create(path, "old", scrypt_n=FAST_N)
    wallet.change_password("new", scrypt_n=FAST_N)
    assert Wallet.load(path, "new").address == wallet.address
    with pytest.raises(WrongPassword):
        Wallet.load(path, "old")


def test_tampered_address_is_caught(path: Path) -> None:
    Wallet.create(path, "pw", scrypt_n=FAST_N)
    doc = json.loads(path.read_text())
    doc["address"] = SECRET_ADDRESS
    path.write_text(json.dumps(doc))
    with pytest.raises(WrongPassword):
        Wallet.load(path, "pw")


def test_tampered_ciphertext_is_caught(path: Path) -> None:
    Wallet.create(path, "pw", scrypt_n=FAST_N)
    doc = json.loads(path.read_text())
    ct = bytearray.fromhex(doc["ciphertext"])
    ct[0] ^= 1
    doc["ciphertext"] = ct.hex()
    path.write_text(json.dumps(doc))
    with pytest.raises(WrongPassword):
        Wallet.load(path, "pw")


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(kdf="pbkdf2"), "kdf"),
        (lambda d: d.update(address="not-an-address"), "address"),
        (lambda d: d["kdf_params"].update(n=2**30), "power of two"),
        (lambda d: d["kdf_params"].update(n=3), "power of two"),
        (lambda d: d["kdf_params"].pop("r"), "incomplete"),
        (lambda d: d.update(nonce="zz"), "nonce is not hex"),
        (lambda d: d.update(nonce="00"), "nonce has the wrong length"),
        (lambda d: d.pop("ciphertext"), "missing ciphertext"),
        (lambda d: d.update(salt="00"), "salt is too short"),
    ],
)
def test_malformed_files_are_corrupt(path: Path, edit, why: str) -> None:  # type: ignore[no-untyped-def]
    Wallet.create(path, "pw", scrypt_n=FAST_N)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(CorruptWallet, match=why):
        Wallet.load(path, "pw")


@pytest.mark.parametrize("content", [b"", b"\xff\xfe", b"[1, 2]", b"{"])
def test_garbage_is_corrupt(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(CorruptWallet):
        Wallet.load(path, "pw")


@pytest.mark.parametrize("bad", ["", "12", "zz" * 32, "00" * 32, "ff" * 32])
def test_invalid_import_key(path: Path, bad: str) -> None:
    with pytest.raises(InvalidKey) as info:
        Wallet.import_hex(path, bad, "pw", scrypt_n=FAST_N)
    assert bad not in str(info.value) or bad == ""
    assert not path.exists()


def test_empty_password_refused(path: Path) -> None:
    with pytest.raises(EmptyPassword):
        Wallet.create(path, "", scrypt_n=FAST_N)
    assert not path.exists()


def test_errors_are_one_line(path: Path) -> None:
    Wallet.create(path, "pw", scrypt_n=FAST_N)
    for call in (lambda: Wallet.load(path, "x"), lambda: Wallet.create(path, "pw")):
        with pytest.raises(Exception) as info:
            call()
        assert "\n" not in str(info.value)


def test_secret_appears_nowhere(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wallet = Wallet.import_hex(path, SECRET_HEX, "pw", scrypt_n=FAST_N)
    texts = [repr(wallet), str(wallet), repr(wallet.signing_key), str(wallet.signing_key)]
    path.chmod(0o644)  # provokes the permissions warning, a log record with the wallet in it
    loaded = Wallet.load(path, "pw")
    texts += [repr(loaded), str(loaded)]
    failures = [
        lambda: Wallet.load(path, "bad"),
        lambda: Wallet.import_hex(path, SECRET_HEX, "pw", scrypt_n=FAST_N),
        lambda: Wallet.import_hex(path.with_name("x.json"), SECRET_HEX[:-2] + "zz", "pw"),
    ]
    for call in failures:
        with pytest.raises(Exception) as info:
            call()
        texts += [str(info.value), repr(info.value)]
        texts.append("".join(traceback.format_exception(info.value)))
    texts += [record.getMessage() for record in caplog.records]
    assert any("accessible by other users" in t for t in texts)
    assert wallet.address in texts[0]
    for text in texts:
        assert SECRET_HEX not in text.lower()
        assert SECRET_HEX[:-2] not in text.lower()
