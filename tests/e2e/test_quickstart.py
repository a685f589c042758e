"""The README's quick start, run as written: its bash blocks are read from README.md and typed
into a real shell one command at a time, while `btt devnet` runs beside it as its own process.

What the test changes, and why: `pip install -e .` is left out (./scripts/test has just made that
install), the fixed ports (the ledger's, the TRON node's, the seeder's) become free ones so that
parallel runs don't collide, and `<alice's address>` / `<bob's address>` become the addresses
that `btt wallet new` printed, as a reader would type them. Then it checks the outcome with
parties of its own: tronpy reads the payout on chain, and the devnet restarts where it stopped.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tronpy import Tron
from tronpy.providers import HTTPProvider

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # where the install put btt, btt-ledger and btt-bridge
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def quick_start() -> list[list[str]]:
    """The commands of each bash block under "## Quick start" (continuations joined, comment
    lines dropped; comments after a command stay, the shell ignores them)."""
    section = README.read_text().split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [
        [line for line in block.replace("\\\n", " ").splitlines() if line.split("#")[0].strip()]
        for block in blocks
    ]


def command_only(line: str) -> str:
    return line.split(" #")[0].strip()


class Lines:
    """A process's merged output, read on a thread, waited on for a text."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(line)

    def wait_for(self, pattern: str, timeout: float = 180) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.seen)
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} in:\n{''.join(self.seen)}")

    def text(self) -> str:
        while not self.queue.empty():
            self.seen.append(self.queue.get())
        return "".join(self.seen)


class Shell:
    """One bash, typed into like a terminal; each command's output and exit code come back."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.out = Lines(self.proc)
        self.count = 0

    def type(self, line: str, timeout: float = 180) -> tuple[int, str]:
        self.count += 1
        marker = f"__done_{self.count}__"
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\necho {marker}=$?\n")
        self.proc.stdin.flush()
        start = len(self.out.seen)
        code = int(self.out.wait_for(rf"{marker}=(\d+)", timeout).group(1))
        return code, "".join(self.out.seen[start:-1])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def start_devnet(command: str, env: dict[str, str], cwd: Path) -> Lines:
    proc = subprocess.Popen(
        command.split(),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Lines(proc)


def stop(lines: Lines) -> int:
    lines.proc.send_signal(signal.SIGTERM)
    return lines.proc.wait(timeout=60)


def test_the_readme_quick_start_as_written(tmp_path: Path) -> None:
    install, rest = quick_start()[0], quick_start()[1:]
    assert [command_only(c) for c in install] == ["pip install -e .", "btt devnet"]
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BTT_", "PYTHON", "VIRTUAL"))}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}:{env.get('PATH', '')}",
        BTT_LEDGER=f"127.0.0.1:{free_port()}",
        BTT_DEVNET_NODE_LISTEN=f"127.0.0.1:{free_port()}",
        BTT_PASSWORD="correct horse",
    )
    ports = {
        "127.0.0.2:6881": f"127.0.0.2:{free_port('127.0.0.2')}",
        "50061": str(free_port("127.0.0.2")),
    }
    began = time.monotonic()
    devnet = start_devnet(command_only(install[1]), env, work)
    shell = Shell(env, work)
    addresses: dict[str, str] = {}
    try:
        devnet.wait_for("devnet ready")
        ready = time.monotonic() - began
        for block in rest:
            for line in block:
                for fixed, free in ports.items():
                    line = line.replace(fixed, free)
                for who, address in addresses.items():
                    line = line.replace(f"<{who}'s address>", address)
                assert "<" not in command_only(line), f"unknown placeholder in {line!r}"
                code, out = shell.type(line)
                assert code == 0 and "Traceback" not in out, f"{line}\n{out}"
                if "wallet new" in line:
                    who = "bob" if ".btt-bob" in line else "alice"
                    addresses[who] = re.findall(r"address (T\w{33})", out)[-1]
                if line.rstrip().endswith("&"):  # the seeder: wait for what it prints
                    shell.out.wait_for(r"download with --paid-peer")
        walked = time.monotonic() - began

        # What the steps did, checked from outside: the payout on chain (tronpy), the books.
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (home / ".btt" / "devnet" / "env").read_text().splitlines()
        )
        tron = Tron(HTTPProvider(exported["BTT_BRIDGE_NODE_URL"]))
        token = int(exported["BTT_BRIDGE_TOKEN_ID"])
        deadline = time.monotonic() + 120
        while tron.get_account_asset_balance(addresses["alice"], token) != 3_000_000:
            assert time.monotonic() < deadline, "the withdrawal was not paid on chain"
            time.sleep(0.5)
        downloaded = home / "Downloads" / "film.bin"
        assert downloaded.read_bytes() == (work / "film.bin").read_bytes()
        # The seeder closes its channels when stopped: bob is paid then.
        assert shell.type("kill %1 && wait %1")[0] == 0
        balances = {
            who: json.loads(shell.type(f"BTT_HOME=~/.btt-{who} btt --json balance")[1])["balance"]
            for who in ("alice", "bob")
        }
        earned = balances["bob"] - 1_000_000  # what alice's download paid bob
        assert earned > 0, shell.out.text()
        # 10 from the faucet - 1 transferred - what the download paid + 5 deposited - 3 withdrawn
        assert balances["alice"] == 11_000_000 - earned
        again_code, again = shell.type("btt faucet")
        assert again_code == 1 and "FAUCET_ALREADY_CLAIMED" in again
    finally:
        shell.close()
        code = stop(devnet)
    assert code == 0, devnet.text()
    assert "devnet stopped" in devnet.text()

    # A restart continues: same token, same balances, the pool is not funded twice.
    restarted = start_devnet(command_only(install[1]), env, work)
    try:
        restarted.wait_for("devnet ready")
        text = restarted.text()
        assert "issued TRC-10 token" not in text and "faucet pool" in text
        balance = subprocess.run(
            ["btt", "--json", "balance"],
            env={**env, "BTT_HOME": str(home / ".btt-alice")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert json.loads(balance.stdout)["balance"] == balances["alice"]
    finally:
        assert stop(restarted) == 0
    print(f"quick start: devnet ready after {ready:.1f} s, every step done after {walked:.1f} s")
