"""secp256k1 keys, recoverable signatures, TRON addresses; cross-checked with pure-Python ecdsa."""

from __future__ import annotations

import hashlib

import ecdsa
import pytest
from Crypto.Hash import keccak
from ecdsa.util import sigdecode_string, sigencode_strings

from core.crypto import (
    SIGNATURE_LENGTH,
    InvalidAddress,
    InvalidSignature,
    SigningKey,
    address_from_raw,
    is_address,
    raw_address,
    raw_address_of_public_key,
    recover_raw_address,
    sha256,
    signed_by,
)

N = ecdsa.SECP256k1.order
CURVE = ecdsa.SECP256k1

# java-tron documentation's /wallet/transferasset example (tron-transferasset.json).
VECTOR_SECRET = bytes.fromhex("11" * 32)
VECTOR_ADDRESS = "TCLBgkbfVkJroVBJVqBEsxtPNQEQMTQCLQ"
VECTOR_TXID = bytes.fromhex("7a8b50753079977b2cc0ddc19309c568e5bcaa8d2d865b3d96b40719b1b8df6f")
VECTOR_SIGNATURE = bytes.fromhex(
    "a7cb8b6bfeeb5fa7d524a5c89f0a30240d360ecba1430c7aebb9c67e97b9e161"
    "002c2f80adb8b5889b6ec4b5a119426e32e7d62e05b1eba4e5738e24d1813a43"
    "00"
)

SECRETS = [bytes([b]) * 32 for b in (0x01, 0x11, 0x22, 0x7F)] + [
    (N - 1).to_bytes(32, "big"),
    (1).to_bytes(32, "big"),
]
DIGESTS = [sha256(bytes([i]) * i) for i in range(6)] + [b"\x00" * 32, b"\xff" * 32]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check(raw: bytes) -> str:
    data = raw + hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def ecdsa_sign_recoverable(secret: bytes, digest: bytes) -> bytes:
    """RFC6979 with pure-Python ecdsa, low-s, recovery id found by public key recovery."""
    sk = ecdsa.SigningKey.from_string(secret, curve=CURVE)
    r_bytes, s_bytes = sk.sign_digest_deterministic(
        digest, hashfunc=hashlib.sha256, sigencode=sigencode_strings
    )
    r, s = int.from_bytes(r_bytes, "big"), int.from_bytes(s_bytes, "big")
    if s > N // 2:
        s = N - s
    rs = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    candidates = ecdsa.VerifyingKey.from_public_key_recovery_with_digest(
        rs, digest, CURVE, sigdecode=sigdecode_string
    )
    mine = sk.get_verifying_key().to_string()
    (v,) = [i for i, key in enumerate(candidates) if key.to_string() == mine]
    return rs + bytes([v])


# ---------------------------------------------------------------- cross-implementation


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.hex()[:6])
@pytest.mark.parametrize("digest", DIGESTS, ids=lambda d: d.hex()[:6])
def test_coincurve_signature_verifies_with_ecdsa(secret: bytes, digest: bytes) -> None:
    key = SigningKey.from_bytes(secret)
    signature = key.sign_digest(digest)
    assert len(signature) == SIGNATURE_LENGTH
    assert signature[64] in (0, 1)
    assert int.from_bytes(signature[32:64], "big") <= N // 2
    public = key.public_key()
    assert len(public) == 65 and public[0] == 0x04
    vk = ecdsa.VerifyingKey.from_string(public[1:], curve=CURVE)
    assert vk.verify_digest(signature[:64], digest, sigdecode=sigdecode_string)
    other = sha256(digest)
    with pytest.raises(ecdsa.BadSignatureError):
        vk.verify_digest(signature[:64], other, sigdecode=sigdecode_string)


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.hex()[:6])
@pytest.mark.parametrize("digest", DIGESTS, ids=lambda d: d.hex()[:6])
def test_ecdsa_signature_recovers_with_coincurve(secret: bytes, digest: bytes) -> None:
    key = SigningKey.from_bytes(secret)
    signature = ecdsa_sign_recoverable(secret, digest)
    assert recover_raw_address(digest, signature) == raw_address(key.address)
    assert signed_by(digest, signature, key.address)
    # Both are RFC6979 over the same digest with the same key: the very same bytes.
    assert signature == key.sign_digest(digest)


def test_public_key_matches_ecdsa() -> None:
    for secret in SECRETS:
        ours = SigningKey.from_bytes(secret).public_key()
        theirs = ecdsa.SigningKey.from_string(secret, curve=CURVE).get_verifying_key()
        assert ours == theirs.to_string("uncompressed")


# ---------------------------------------------------------------- addresses


def test_vector_address_and_signature() -> None:
    key = SigningKey.from_bytes(VECTOR_SECRET)
    assert key.address == VECTOR_ADDRESS
    signature = key.sign_digest(VECTOR_TXID)
    assert signature == VECTOR_SIGNATURE
    assert signature[64] == 0
    assert recover_raw_address(VECTOR_TXID, VECTOR_SIGNATURE) == raw_address(VECTOR_ADDRESS)
    assert signed_by(VECTOR_TXID, VECTOR_SIGNATURE, VECTOR_ADDRESS)
    assert not signed_by(sha256(VECTOR_TXID), VECTOR_SIGNATURE, VECTOR_ADDRESS)


def test_vector_signature_equals_tronpy() -> None:
    from tronpy.keys import PrivateKey

    assert PrivateKey(VECTOR_SECRET).sign_msg_hash(VECTOR_TXID).hex() == VECTOR_SIGNATURE.hex()


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s.hex()[:6])
def test_address_derivation_by_hand(secret: bytes) -> None:
    key = SigningKey.from_bytes(secret)
    public = key.public_key()
    raw = b"\x41" + keccak256(public[1:])[-20:]
    assert raw_address_of_public_key(public) == raw
    assert key.address == b58check(raw)
    assert key.address.startswith("T") and len(key.address) == 34
    assert raw_address(key.address) == raw
    assert address_from_raw(raw) == key.address
    assert is_address(key.address)


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "T",
        "junk",
        VECTOR_ADDRESS[:-1],
        VECTOR_ADDRESS + "z",
        VECTOR_ADDRESS[:-1] + ("L" if VECTOR_ADDRESS[-1] != "L" else "M"),
        VECTOR_ADDRESS.lower(),
        "0" * 34,
        b58check(b"\x42" + bytes(20)),
        b58check(b"\x41" + bytes(19)),
        b58check(b"\x41" + bytes(21)),
        "41" + raw_address(VECTOR_ADDRESS)[1:].hex(),
    ],
)
def test_junk_is_invalid_address(junk: str) -> None:
    with pytest.raises(InvalidAddress):
        raw_address(junk)
    assert not is_address(junk)
    assert not signed_by(VECTOR_TXID, VECTOR_SIGNATURE, junk)


def test_invalid_address_is_a_value_error() -> None:
    assert issubclass(InvalidAddress, ValueError)
    assert issubclass(InvalidSignature, ValueError)


# ---------------------------------------------------------------- signatures


def _with(
    signature: bytes, *, r: int | None = None, s: int | None = None, v: int | None = None
) -> bytes:
    rr = int.from_bytes(signature[:32], "big") if r is None else r
    ss = int.from_bytes(signature[32:64], "big") if s is None else s
    vv = signature[64] if v is None else v
    return rr.to_bytes(32, "big") + ss.to_bytes(32, "big") + bytes([vv])


def test_malformed_signatures_are_invalid() -> None:
    good = VECTOR_SIGNATURE
    s = int.from_bytes(good[32:64], "big")
    bad = {
        "empty": b"",
        "64 bytes": good[:64],
        "66 bytes": good + b"\x00",
        "v=2": _with(good, v=2),
        "v=27": _with(good, v=27),
        "high s": _with(good, s=N - s, v=good[64] ^ 1),
        "s = n/2 + 1": _with(good, s=N // 2 + 1),
        "r = 0": _with(good, r=0),
        "s = 0": _with(good, s=0),
        "r = n": _with(good, r=N),
    }
    for name, signature in bad.items():
        with pytest.raises(InvalidSignature):
            recover_raw_address(VECTOR_TXID, signature)
        assert not signed_by(VECTOR_TXID, signature, VECTOR_ADDRESS), name


def test_high_s_twin_is_valid_ecdsa_but_refused() -> None:
    s = int.from_bytes(VECTOR_SIGNATURE[32:64], "big")
    twin = _with(VECTOR_SIGNATURE, s=N - s, v=VECTOR_SIGNATURE[64] ^ 1)
    vk = ecdsa.VerifyingKey.from_string(
        SigningKey.from_bytes(VECTOR_SECRET).public_key()[1:], curve=CURVE
    )
    assert vk.verify_digest(twin[:64], VECTOR_TXID, sigdecode=sigdecode_string)
    with pytest.raises(InvalidSignature, match="canonical"):
        recover_raw_address(VECTOR_TXID, twin)


def test_flipped_recovery_id_recovers_someone_else() -> None:
    flipped = _with(VECTOR_SIGNATURE, v=VECTOR_SIGNATURE[64] ^ 1)
    recovered = recover_raw_address(VECTOR_TXID, flipped)
    assert len(recovered) == 21 and recovered[0] == 0x41
    assert recovered != raw_address(VECTOR_ADDRESS)
    assert not signed_by(VECTOR_TXID, flipped, VECTOR_ADDRESS)


def test_r_not_on_the_curve_does_not_recover() -> None:
    # x = 5 is not the x coordinate of any secp256k1 point (5^3 + 7 = 132 is a non-residue).
    p = CURVE.curve.p()
    assert pow(132, (p - 1) // 2, p) == p - 1
    with pytest.raises(InvalidSignature, match="recover"):
        recover_raw_address(VECTOR_TXID, _with(VECTOR_SIGNATURE, r=5))


def test_sign_digest_needs_32_bytes() -> None:
    key = SigningKey.from_bytes(VECTOR_SECRET)
    for digest in (b"", b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(ValueError, match="32 bytes"):
            key.sign_digest(digest)


def test_signing_is_deterministic() -> None:
    key = SigningKey.from_bytes(VECTOR_SECRET)
    assert key.sign_digest(VECTOR_TXID) == key.sign_digest(VECTOR_TXID)
    assert key.sign_digest(VECTOR_TXID) != key.sign_digest(sha256(VECTOR_TXID))


# ---------------------------------------------------------------- keys


def test_from_hex_forms() -> None:
    hex_key = VECTOR_SECRET.hex()
    for text in (hex_key, "0x" + hex_key, f"  {hex_key}\n", hex_key.upper()):
        assert SigningKey.from_hex(text).address == VECTOR_ADDRESS
    assert SigningKey.from_hex(hex_key).secret_bytes() == VECTOR_SECRET


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "32 bytes"),
        ("11" * 31, "32 bytes"),
        ("11" * 33, "32 bytes"),
        ("1" * 63, "64 hex"),
        ("zz" * 32, "64 hex"),
        ("0x" + "g1" * 32, "64 hex"),
        ("00" * 32, "out of range"),
        (N.to_bytes(32, "big").hex(), "out of range"),
        ((N + 1).to_bytes(32, "big").hex(), "out of range"),
        ("ff" * 32, "out of range"),
    ],
)
def test_bad_hex_keys_are_clear_value_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        SigningKey.from_hex(text)
    if len(text) > 8:
        assert text.removeprefix("0x") not in str(info.value)


@pytest.mark.parametrize("secret", [b"", b"\x11" * 31, b"\x11" * 33, b"\x11" * 64])
def test_bad_key_lengths(secret: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKey.from_bytes(secret)


def test_repr_and_str_hide_the_secret() -> None:
    key = SigningKey.from_bytes(VECTOR_SECRET)
    generated = SigningKey.generate()
    for k in (key, generated):
        secret_hex = k.secret_bytes().hex()
        for text in (repr(k), str(k), f"{k}", f"{k!r}", repr([k]), repr({"k": k})):
            assert secret_hex not in text
            assert secret_hex.upper() not in text
            assert k.address in text
    assert repr(key) == f"SigningKey(address={VECTOR_ADDRESS})"


def test_generated_keys_differ_and_sign() -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    assert a.secret_bytes() != b.secret_bytes()
    assert a.address != b.address
    digest = sha256(b"hello")
    assert signed_by(digest, a.sign_digest(digest), a.address)
    assert not signed_by(digest, a.sign_digest(digest), b.address)
