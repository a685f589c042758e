"""Peer identity as seen in libtorrent alerts and peer lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libtorrent as lt

_ZERO_PID = "0" * 40


@dataclass(frozen=True, order=True)
class PeerKey:
    """A remote peer: its IP, plus its peer id (hex) when the handshake revealed it.

    Enforcement (throttle, ban) works per IP, so counters that must be enforced are kept per
    IP; the peer id distinguishes several clients behind one address in reports.
    """

    ip: str
    peer_id: str | None = None

    def __str__(self) -> str:
        return self.ip if self.peer_id is None else f"{self.ip}/{self.peer_id[:8]}"


def peer_id_hex(pid: Any) -> str | None:
    text = str(pid)
    return None if not text or text == _ZERO_PID else text


def key_from_alert(alert: lt.peer_alert) -> PeerKey:
    """Copy the identity out of a peer alert at once: the alert dies at the next pop."""
    return PeerKey(str(alert.ip[0]), peer_id_hex(alert.pid))


def key_from_info(info: lt.peer_info) -> PeerKey:
    return PeerKey(str(info.ip[0]), peer_id_hex(info.pid))
