"""The installed distribution's version, for `--version` and the build-info metric."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "btt-channels"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def version_line(program: str) -> str:
    """What `PROGRAM --version` prints: program, version, Python."""
    return f"{program} {package_version()} (Python {platform.python_version()})"
