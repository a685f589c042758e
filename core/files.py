"""Files that hold money data (keystores, channel stores, embedded ledger databases) are made
readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_MODE = 0o600


def create_private(path: str | os.PathLike[str]) -> Path:
    """Create `path` empty with mode 0600 if it does not exist (its directory too), so that a
    database opened on it afterwards never starts world-readable; SQLite gives its -wal and
    -shm files the same mode. An existing file is left as it is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    return path
