"""The payee's account of each payer on each torrent, pure: what it was sent, what it paid for,
what it is given (the optimistic slot) and forgiven (failed pieces), the rate in force, and when
it has earned a ban.

The roster is the one owner of the rate a payer pays: the auction's rounds write it
(`apply_round`), the payee service reads it (`rate_for`) and the channels are repriced from the
`Reprice` effects it returns. Decisions return effects (`Credit`, `Reprice`, `Announce`, `Ban`);
the seeder performs them on libtorrent, the payee book and the payers' Watch streams.

What a payer is told (`Service`): its mode, the rate in force, what it has been credited and the
window served ahead of that. A payer that requests no more than `credited + window` bytes in all
is never throttled, and the seeder never holds more than the window of its data unpaid.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from client_sdk.torrent.market import ActionKind, PeerAccount, RoundResult
from client_sdk.torrent.paid.shares import PaidBytes

# Marks a piece counted whole: a block sent again (a re-request) never counts it twice.
_COUNTED = -(1 << 62)


class Mode(enum.Enum):
    CHOKED = "choked"
    PAID = "paid"
    FREE = "free"


class ChokeReason(enum.StrEnum):
    """Why a payer is choked, as it is told."""

    NO_BID = "NO_BID"
    BELOW_RESERVE = "BELOW_RESERVE"
    OUTBID = "OUTBID"
    REPRICE = "REPRICE"
    """A winner whose rate changes: choked, told the new rate, unchoked (whitepaper)."""
    BANNED = "BANNED"


@dataclass(frozen=True, slots=True)
class Credit:
    """Tell the gate that `ip` has `paid_bytes` of credit on `info_hash` (cumulative)."""

    ip: str
    info_hash: str
    paid_bytes: int


@dataclass(frozen=True, slots=True)
class Reprice:
    """The payer's open channels on this torrent now pay `rate` per piece."""

    payer: str
    info_hash: str
    rate: int


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell the payer its service changed; `repriced`: a winner's rate changed, so it is told
    it is choked before it is told the new rate."""

    payer: str
    info_hash: str
    repriced: bool = False


@dataclass(frozen=True, slots=True)
class Ban:
    ip: str
    payer: str
    why: str


@dataclass(frozen=True, slots=True)
class Service:
    """What the payee does for one payer on one torrent now (pushed on its Watch stream)."""

    mode: Mode
    rate: int
    """Units per piece in force; 0 unless PAID."""
    credited: int
    """Bytes paid for, given and forgiven."""
    window: int
    reason: str = ""
    """Why CHOKED (a `ChokeReason`)."""

    @property
    def credit_limit(self) -> int:
        """Bytes the payee hands this payer in all: a choked one gets nothing more."""
        return self.credited + (0 if self.mode is Mode.CHOKED else self.window)


@dataclass(frozen=True, slots=True)
class Delivery:
    first: bool
    """The first bytes of this piece sent to this payer."""
    whole: bool
    """This block completed the piece for this payer."""


@dataclass(frozen=True, slots=True)
class Limits:
    window: int
    """Unpaid whole-piece bytes served ahead of payment."""
    gift_ahead: int
    """A free (optimistic) payer's gift stays this many bytes ahead of what it was sent."""
    max_forgiven: int
    """Bytes of failed pieces forgiven per payer."""
    max_payment_failures: int
    payment_timeout: float
    """Seconds a paying winner may stay throttled with whole pieces unpaid past the window."""


@dataclass
class PayerAccount:
    payer: str
    info_hash: str
    ip: str
    endpoint: str
    paid: PaidBytes
    mode: Mode = Mode.CHOKED
    gift: int = 0
    forgiven: int = 0  # bytes of pieces the payer reported failed (capped)
    sent: int = 0  # bytes queued to it, as the delivered hook reported
    round_sent: int = 0  # sent at the last choke round
    pieces: dict[int, int] = field(default_factory=dict)  # piece -> bytes queued, until whole
    whole_pieces: int = 0
    failures: int = 0
    overdue_since: float | None = None
    bans: int = 0
    choked_for: ChokeReason = ChokeReason.NO_BID

    @property
    def credited(self) -> int:
        return self.paid.value + self.gift + self.forgiven

    @property
    def rate(self) -> int | None:
        """The rate in force: what a winner pays per piece; None unless it is a paying winner."""
        return self.paid.rate if self.mode is Mode.PAID else None

    def service(self, limits: Limits) -> Service:
        if self.mode is Mode.CHOKED:
            return Service(Mode.CHOKED, 0, self.credited, limits.window, self.choked_for.value)
        return Service(self.mode, self.rate or 0, self.credited, limits.window)

    def deliver(self, piece: int, nbytes: int, piece_size: int) -> Delivery:
        self.sent += nbytes
        first = piece not in self.pieces
        got = self.pieces.get(piece, 0) + nbytes
        whole = got >= piece_size
        if whole:
            self.pieces[piece] = _COUNTED
            self.whole_pieces += 1
        else:
            self.pieces[piece] = got
        return Delivery(first, whole)

    def gift_low(self, limits: Limits) -> bool:
        return self.mode is Mode.FREE and self.credited < self.sent + limits.window

    def top_up_gift(self, limits: Limits) -> None:
        if self.credited < self.sent + limits.window:
            self.gift = self.sent + limits.gift_ahead - self.paid.value

    def credit(self) -> Credit | None:
        """What the gate should know; a choked payer gets nothing new, so it runs dry."""
        if self.mode is Mode.CHOKED or self.credited <= 0:
            return None
        return Credit(self.ip, self.info_hash, self.credited)

    def forgive(self, nbytes: int, piece_length: int, limits: Limits) -> int:
        """Forgive our bytes in a piece the payer saw fail: at most one piece per report and
        `max_forgiven` in all, so a lying payer gains little. Returns the bytes granted."""
        granted = max(0, min(nbytes, piece_length, limits.max_forgiven - self.forgiven))
        self.forgiven += granted
        return granted

    def refused_payment(self, reason: str, limits: Limits) -> Ban | None:
        self.failures += 1
        if self.failures < limits.max_payment_failures:
            return None
        return Ban(self.ip, self.payer, f"{self.failures} refused payment updates ({reason})")

    def check_overdue(
        self, now: float, unpaid_complete: int, throttled: bool, limits: Limits
    ) -> Ban | None:
        """A paying winner that keeps whole pieces unpaid past the window while throttled has
        stopped paying: after `payment_timeout` seconds it earns a ban."""
        if self.mode is not Mode.PAID:
            return None
        if not (unpaid_complete - self.credited > limits.window and throttled):
            self.overdue_since = None
            return None
        if self.overdue_since is None:
            self.overdue_since = now
        if now - self.overdue_since < limits.payment_timeout:
            return None
        return Ban(self.ip, self.payer, "stopped paying: unpaid pieces beyond the credit window")

    def banned(self) -> None:
        self.failures = 0
        self.overdue_since = None
        self.bans += 1
        self.mode = Mode.CHOKED
        self.choked_for = ChokeReason.BANNED

    def round_data(self) -> int:
        """Bytes sent since the last choke round (the auction's tie-break)."""
        data = self.sent - self.round_sent
        self.round_sent = self.sent
        return data


def mode_of(kind: ActionKind, rate: int) -> Mode:
    if kind is ActionKind.CHOKE:
        return Mode.CHOKED
    if kind is ActionKind.UNCHOKE or rate == 0:
        return Mode.FREE
    return Mode.PAID


def choke_reason(peer: PeerAccount, result: RoundResult) -> ChokeReason:
    """Why the round left `peer` choked: its bid was below the reserve, outbid, or absent."""
    if peer in result.outcome.ineligible:
        return ChokeReason.BELOW_RESERVE
    if peer in result.outcome.losers:
        return ChokeReason.OUTBID
    return ChokeReason.NO_BID


class PayerRoster:
    """Every payer account, by (payer, info hash) and by (IP, info hash). Not thread-safe: the
    seeder holds its lock around every call."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._by_payer: dict[tuple[str, str], PayerAccount] = {}
        self._by_ip: dict[tuple[str, str], PayerAccount] = {}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._by_payer.values()))

    def get(self, payer: str, info_hash: str) -> PayerAccount | None:
        return self._by_payer.get((payer, info_hash))

    def at(self, ip: str, info_hash: str) -> PayerAccount | None:
        return self._by_ip.get((ip, info_hash))

    def rate_for(self, payer: str, info_hash: str) -> int | None:
        acct = self.get(payer, info_hash)
        return None if acct is None else acct.rate

    def join(
        self, payer: str, info_hash: str, ip: str, endpoint: str, piece_length: int
    ) -> PayerAccount:
        """The payer's account, created on its first bid; a new endpoint moves it."""
        acct = self._by_payer.get((payer, info_hash))
        if acct is None:
            acct = PayerAccount(payer, info_hash, ip, endpoint, PaidBytes(piece_length))
            self._by_payer[(payer, info_hash)] = acct
        elif acct.ip != ip:
            self._by_ip.pop((acct.ip, info_hash), None)
            acct.ip = ip
        acct.endpoint = endpoint
        self._by_ip[(ip, info_hash)] = acct
        return acct

    def apply_round(self, info_hash: str, result: RoundResult) -> list[Credit | Reprice | Announce]:
        """Turn the auction's actions into modes and rates; returns what the seeder must do."""
        effects: list[Credit | Reprice | Announce] = []
        for action in result.actions:
            acct = self.get(action.peer, info_hash)
            if acct is None:
                continue
            rate = action.response.rate_per_piece_units if action.response else 0
            was_paying = acct.mode is Mode.PAID
            acct.mode = mode_of(action.kind, rate)
            if acct.mode is Mode.CHOKED:
                acct.choked_for = choke_reason(action.peer, result)
            if acct.mode is Mode.PAID:
                acct.paid.set_rate(rate, acct.sent)
                effects.append(Reprice(acct.payer, info_hash, rate))
            if acct.mode is Mode.FREE:
                acct.top_up_gift(self.limits)
            credit = acct.credit()
            if credit is not None:
                effects.append(credit)
            repriced = was_paying and action.kind is ActionKind.CHOKE_RESPOND_UNCHOKE
            effects.append(Announce(acct.payer, info_hash, repriced))
        return effects

    def round_data(self, info_hash: str) -> dict[PeerAccount, int]:
        return {
            PeerAccount(a.payer): a.round_data()
            for a in self._by_payer.values()
            if a.info_hash == info_hash
        }
