"""Sample a running ledger with py-spy and say where its CPU time goes.

`Sampler` records collapsed stacks (py-spy's raw format: `frame;frame;... count`) of the thread
holding the GIL, the ledger process's serial resource, while a benchmark phase runs.
`summarize` files each sample under the first layer found walking from the innermost frame
outwards, and lists the functions that take the most time themselves and the ledger functions
that take the most in total.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Innermost match wins: a psycopg frame under SQLAlchemy under the service counts as driver.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crypto (signature recovery, hashing)", ("coincurve", "/core/crypto.py", "hashlib")),
    ("database driver (psycopg)", ("/psycopg/", "/psycopg_binary/")),
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("protobuf", ("/google/protobuf/",)),
    ("metrics and logging", ("/prometheus_client/", "/logging/", "/structlog/", "/core/logs.py")),
    ("gRPC", ("/grpc/",)),
    ("ledger code", ("/ledger/", "/core/")),
    ("threads and futures", ("/concurrent/futures/", "/threading.py", "/queue.py")),
    ("asyncio", ("/asyncio/",)),
)
OTHER = "other"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def _py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    return found


class Sampler:
    """`py-spy record` attached to `pid` (and its subprocesses) until `stop`."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._proc = subprocess.Popen(
            [
                _py_spy(),
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--gil",
                "--full-filenames",
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> Path:
        self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            raise RuntimeError("py-spy did not stop") from None
        if not self.out.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.strip()}")
        return self.out


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for part in stack.split(";"):
        m = _FRAME.match(part)
        if m:
            frames.append((m["func"], m["file"]))
        elif part.startswith("process ") or part.startswith("thread "):
            continue
        else:
            frames.append((part, ""))
    return frames


def _layer(frames: list[tuple[str, str]]) -> str:
    for _func, file in reversed(frames):
        for name, needles in LAYERS:
            if any(n in file for n in needles):
                return name
    return OTHER


def _short(func: str, file: str) -> str:
    parts = Path(file).parts
    for anchor in ("site-packages", "ledger", "core", "lib"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            rest = parts[i + 1 :] if anchor in ("site-packages", "lib") else parts[i:]
            return f"{func} ({'/'.join(rest)})"
    return f"{func} ({Path(file).name})" if file else func


def summarize(raw: Path, top: int = 12) -> dict[str, object]:
    layers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        layers[_layer(frames)] += count
        own[_short(*frames[-1])] += count
        for name in {_short(f, file) for f, file in frames if "/ledger/" in file}:
            inclusive[name] += count

    def share(counter: Counter[str], n: int) -> list[list[object]]:
        return [[name, round(100 * c / max(total, 1), 1)] for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "layers_pct": share(layers, len(LAYERS) + 1),
        "top_self_pct": share(own, top),
        "top_ledger_inclusive_pct": share(inclusive, top),
    }


def render(summary: dict[str, object]) -> str:
    lines = [f"  samples: {summary['samples']} (the thread holding the GIL)"]
    for title, key in (
        ("by layer (innermost frame)", "layers_pct"),
        ("functions, own time", "top_self_pct"),
        ("ledger functions, inclusive", "top_ledger_inclusive_pct"),
    ):
        lines.append(f"  {title}:")
        for name, pct in summary[key]:  # type: ignore[attr-defined]
            lines.append(f"    {pct:>5}%  {name}")
    return "\n".join(lines)
