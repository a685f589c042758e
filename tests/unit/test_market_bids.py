from __future__ import annotations

import pytest

from client_sdk.torrent.market import (
    per_byte_from_per_piece,
    per_piece_from_per_byte,
    piece_price,
)

PIECE = 256 * 1024


@pytest.mark.parametrize(
    ("units", "per_bytes", "piece_size", "want"),
    [
        (1, 1, PIECE, PIECE),
        (1_000_000, 1024 * 1024, PIECE, 250_000),  # 1 BTT per MiB
        (1, 3, 10, 3),  # 3.33 rounds down
        (0, 7, PIECE, 0),
    ],
)
def test_per_piece_from_per_byte(units: int, per_bytes: int, piece_size: int, want: int) -> None:
    assert per_piece_from_per_byte(units, per_bytes, piece_size) == want


def test_per_byte_roundtrip_is_exact() -> None:
    assert per_byte_from_per_piece(250_000, PIECE) == (15625, 16384)
    units, per_bytes = per_byte_from_per_piece(250_001, PIECE)
    assert per_piece_from_per_byte(units, per_bytes, PIECE) == 250_001
    assert per_byte_from_per_piece(0, PIECE) == (0, 1)


@pytest.mark.parametrize(
    ("rate", "length", "want"), [(1000, PIECE, 1000), (1000, PIECE // 2, 500), (1, 1, 1), (0, 5, 0)]
)
def test_piece_price(rate: int, length: int, want: int) -> None:
    assert piece_price(rate, length, PIECE) == want


@pytest.mark.parametrize(
    "call",
    [
        lambda: per_piece_from_per_byte(-1, 1, PIECE),
        lambda: per_piece_from_per_byte(1, 0, PIECE),
        lambda: per_byte_from_per_piece(1, 0),
        lambda: piece_price(1, PIECE + 1, PIECE),
        lambda: piece_price(1, 0, PIECE),
    ],
)
def test_bad_conversion_inputs(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()
