"""The payer's request window, pure: which pieces it may ask for now.

A seeder hands a peer only blocks the peer requested. So a payer that requests no more bytes in
all than its paid seeders' credit limits (`credited + window`, pushed on their Watch streams)
keeps every seeder within its window without any throttle acting: the seeder's exposure is
bounded by the payer's own requests, not by how fast the seeder's gate reacts.

Pieces are released to libtorrent (given a non-zero priority) in index order while
`released + size <= limit`. libtorrent fetches a piece that failed its hash check again at once,
so a failure counts its bytes again (the seeder hands them again). A window smaller than a piece
would never let a piece through, so when nothing released is unpaid one piece is released anyway.

With one paid source this bound is exact. With several, libtorrent decides which of them serves
a released piece, so one of them may get more than its own window; its gate still holds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from client_sdk.torrent.session import Geometry


class RequestWindow:
    def __init__(self, geometry: Geometry, have: Iterable[int] = ()) -> None:
        done = set(have)
        self._geometry = geometry
        self._todo: deque[int] = deque(p for p in range(geometry.num_pieces) if p not in done)
        self._out: set[int] = set()  # released, not verified yet
        self.released_bytes = 0

    @property
    def outstanding(self) -> frozenset[int]:
        return frozenset(self._out)

    @property
    def done(self) -> bool:
        return not self._todo and not self._out

    def grant(self, credited: int, limit: int) -> list[int]:
        """Pieces to release now: within `limit` bytes released in all, or one piece when
        everything released so far is paid for (`credited`)."""
        out: list[int] = []
        while self._todo:
            size = self._geometry.piece_size(self._todo[0])
            fits = self.released_bytes + size <= limit
            if not fits and not (self.released_bytes <= credited and not self._out):
                break
            piece = self._todo.popleft()
            self._out.add(piece)
            self.released_bytes += size
            out.append(piece)
        return out

    def remaining(self) -> list[int]:
        """Every piece not released yet (released all at once when the window ends)."""
        out, self._todo = list(self._todo), deque()
        return out

    def verified(self, piece: int) -> None:
        self._out.discard(piece)

    def failed(self, piece: int) -> None:
        """libtorrent fetches the piece again: its bytes are requested again."""
        if piece in self._out:
            self.released_bytes += self._geometry.piece_size(piece)
