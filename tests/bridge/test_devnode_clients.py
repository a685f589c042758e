"""The devnode as a process, faced with clients that leave mid-request: no error, no traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def test_clients_that_leave_mid_request_leave_no_trace(tmp_path: Path) -> None:
    chain = str(tmp_path / "chain")
    args = ["--listen", "127.0.0.1:0", "--data-dir", chain, "--block-interval", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.devnode", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        host, port = url.removeprefix("http://").split(":")
        head = (
            b"POST /wallet/getblockbynum HTTP/1.1\r\nHost: node\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        for body in (b'{"num": 1', b""):  # the body never completes
            with socket.create_connection((host, int(port))) as s:
                s.sendall(head + body)
                time.sleep(0.2)
        requests.post(f"{url}/devnode/faults", json={"delay_ms": 500}, timeout=10)
        with pytest.raises(requests.Timeout):  # gone before the answer
            requests.post(f"{url}/wallet/getnowblock", json={}, timeout=0.1)
        time.sleep(0.8)
        requests.post(f"{url}/devnode/faults", json={"delay_ms": 0}, timeout=10)
        block = requests.post(f"{url}/wallet/getnowblock", json={}, timeout=10).json()
        assert block["block_header"]["raw_data"]["timestamp"] > 0  # still serving
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert err == "", err
