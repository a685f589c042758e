"""Bids learnt from a tracker are hints: check them against the bids peers really make.

Pure: time is passed in. A seeder records what its trackers claim each peer bids (by IP, per
torrent), uses the claims to choose whom to connect to first, and drops a peer whose real bid
(over the payee service) is below `min_percent` of the claim, or that makes no bid at all within
`grace` seconds of connecting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Exposed:
    """A peer whose tracker bid was far above what it really offers."""

    ip: str
    info_hash: str
    claimed: int
    real: int | None
    """None: it never bid."""

    @property
    def why(self) -> str:
        real = "no bid" if self.real is None else f"a real bid of {self.real}"
        return f"tracker claimed a bid of {self.claimed}, {real}"


@dataclass
class _Claim:
    bid: int
    connected_at: float | None = None
    settled: bool = False


@dataclass
class BidHints:
    min_percent: int = 50
    """A real bid below this percentage of the claimed one exposes the peer."""
    grace: float = 30.0
    """Seconds a connected peer with a claim may take to make its real bid."""
    _claims: dict[tuple[str, str], _Claim] = field(default_factory=dict)
    _real: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.min_percent <= 100 or self.grace < 0:
            raise ValueError("need 0 < min_percent <= 100 and grace >= 0")

    def claimed(self, info_hash: str, ip: str, bid: int) -> Exposed | None:
        """A tracker lists `ip` with `bid` (0: no bid). A new claim is judged afresh, at once
        when the peer's real bid is known."""
        key = (info_hash, ip)
        old = self._claims.get(key)
        if bid <= 0:
            self._claims.pop(key, None)
            return None
        if old is not None and old.bid == bid:
            return None
        c = _Claim(bid, old.connected_at if old else None)
        self._claims[key] = c
        return None if key not in self._real else self._judge(info_hash, ip, c)

    def claim(self, info_hash: str, ip: str) -> int:
        c = self._claims.get((info_hash, ip))
        return 0 if c is None else c.bid

    def best(self, info_hash: str, count: int) -> list[str]:
        """The IPs with the highest claims on `info_hash`, best first."""
        mine = [(c.bid, ip) for (ih, ip), c in self._claims.items() if ih == info_hash]
        return [ip for _, ip in sorted(mine, key=lambda x: (-x[0], x[1]))[:count]]

    def real_bid(self, info_hash: str, ip: str, bid: int) -> Exposed | None:
        """The peer bid `bid` for real; exposed when far below its claim (now or once a
        tracker claims more)."""
        self._real[(info_hash, ip)] = bid
        c = self._claims.get((info_hash, ip))
        return None if c is None else self._judge(info_hash, ip, c)

    def connected(self, info_hash: str, ips: Iterable[str], now: float) -> list[Exposed]:
        """`ips` are connected now: start their grace, and expose claimed peers whose grace
        ran out without a real bid."""
        out = []
        for ip in ips:
            c = self._claims.get((info_hash, ip))
            if c is None:
                continue
            if c.connected_at is None:
                c.connected_at = now
            elif (info_hash, ip) not in self._real and now - c.connected_at > self.grace:
                exposed = self._judge(info_hash, ip, c)
                if exposed is not None:
                    out.append(exposed)
        return out

    def _judge(self, info_hash: str, ip: str, c: _Claim) -> Exposed | None:
        if c.settled:
            return None
        real = self._real.get((info_hash, ip))
        if (real or 0) * 100 >= c.bid * self.min_percent:
            return None
        c.settled = True  # judged once per claim: a new claim is judged again
        return Exposed(ip, info_hash, c.bid, real)
