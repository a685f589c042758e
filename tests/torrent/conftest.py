from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import pytest

from client_sdk.torrent.session import create_torrent, write_test_file

# Distinct loopback addresses per test so bans and filters never leak between tests.
_octet3 = 10 + os.getpid() % 200
_hosts = itertools.count(2)


def next_ip() -> str:
    return f"127.0.{_octet3}.{next(_hosts) % 250 + 2}"


@pytest.fixture
def ips() -> Iterator[Iterator[str]]:
    yield iter(next_ip, None)


@dataclass
class Content:
    seed_dir: Path
    path: Path
    sha256: str
    ti: lt.torrent_info
    size: int

    @property
    def num_pieces(self) -> int:
        return int(self.ti.num_pieces())


def make_content(root: Path, size: int, piece_size: int = 256 * 1024, seed: int = 1) -> Content:
    seed_dir = root / "seed"
    path = seed_dir / "payload.bin"
    digest = write_test_file(path, size, seed=seed)
    ti = create_torrent(path, piece_size=piece_size)
    return Content(seed_dir, path, digest, ti, size)


@pytest.fixture
def content(tmp_path: Path) -> Content:
    # 4 MiB + a ragged tail: exercises the short last piece and short last block.
    return make_content(tmp_path, 4 * 1024 * 1024 + 12_345)
