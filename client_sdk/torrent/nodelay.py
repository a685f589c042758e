"""TCP_NODELAY on a session's peer sockets.

libtorrent never turns Nagle's algorithm off. In bulk transfers that costs nothing, but a paid
peer is served a piece or two at a time: the requests, choke and interest messages between two
pieces are small writes, and Nagle holding them until the peer's delayed ACK (40 ms on Linux)
stalls every such exchange. The bindings give no access to the sockets, so on Linux this finds
them among the process's file descriptors by their local address and sets the option there.
Elsewhere it does nothing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from pathlib import Path

import libtorrent as lt

_FDS = Path("/proc/self/fd")

# Alerts after which a new socket of the session exists: scan then.
CONNECTION_ALERTS = (lt.listen_succeeded_alert, lt.incoming_connection_alert, lt.peer_connect_alert)


class NoDelay:
    """Sets TCP_NODELAY on every TCP socket of this process bound to `ip`, once each.

    Call `scan()` after a connection appears (its socket exists by the time libtorrent posts
    the connect or incoming-connection alert); sockets already handled are skipped.
    """

    def __init__(self, ip: str) -> None:
        self._ip = str(ipaddress.ip_address(ip))
        self._done: set[str] = set()  # socket inodes already set
        self._lock = threading.Lock()
        self.enabled = _FDS.is_dir()

    def scan(self) -> int:
        """Set the option on new sockets bound to our address; returns how many were set."""
        if not self.enabled:
            return 0
        with self._lock:
            seen: set[str] = set()
            count = 0
            try:
                names = os.listdir(_FDS)
            except OSError:
                return 0
            for name in names:
                try:
                    target = os.readlink(_FDS / name)
                except OSError:
                    continue
                if not target.startswith("socket:"):
                    continue
                seen.add(target)
                if target in self._done:
                    continue
                if _set_if_ours(int(name), self._ip):
                    count += 1
                    self._done.add(target)
            self._done &= seen  # closed sockets' inodes may be reused
            return count


def _set_if_ours(fd: int, ip: str) -> bool:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        if sock.type != socket.SOCK_STREAM or sock.family not in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            return False
        local = sock.getsockname()[0]
        if str(ipaddress.ip_address(local.split("%")[0])) != ip:
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True
    except (OSError, ValueError):
        return False
    finally:
        sock.detach()  # the descriptor stays libtorrent's
