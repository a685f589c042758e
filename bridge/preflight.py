"""What the operator must fix before (or while) the bridge runs: pure checks over balances.

`btt-bridge run` refuses to start on an error and prints warnings loudly; `btt-bridge status`
lists both. Each finding says what is wrong and what to do about it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SUN_PER_TRX = 1_000_000
# A payout is a TRC-10 transfer of ~300 bytes: 0.3 TRX of bandwidth once the free daily
# allowance is used, plus 1.1 TRX when it creates the recipient's account.
RECOMMENDED_TRX = 10 * SUN_PER_TRX


class Severity(enum.Enum):
    ERROR = "error"  # the bridge cannot do its job: refuse to start
    WARNING = "warning"  # it can, but something will fail soon


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    problem: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.problem}. {self.remedy}"


def check_hot_address(
    *,
    address: str,
    token_id: str,
    trx_balance: int,
    token_balance: int,
    pending_withdrawals: int,
    network: str,
) -> list[Finding]:
    """Findings about the hot address that pays withdrawals (balances as the node reports)."""
    fund_trx = (
        f"btt-bridge fund {address} 100 --trx" if network == "devnode" else f"send TRX to {address}"
    )
    findings: list[Finding] = []
    if trx_balance == 0:
        findings.append(
            Finding(
                Severity.ERROR,
                f"hot address {address} has no TRX, so it cannot pay bandwidth: payouts would "
                "fail with BANDWITH_ERROR",
                f"Fund it ({fund_trx}), or run with --skip-checks to credit deposits only",
            )
        )
    elif trx_balance < RECOMMENDED_TRX:
        findings.append(
            Finding(
                Severity.WARNING,
                f"hot address {address} holds only {_trx(trx_balance)} TRX for "
                "bandwidth (a payout to a new account costs up to 1.4 TRX)",
                f"Top it up ({fund_trx})",
            )
        )
    if token_balance < pending_withdrawals:
        findings.append(
            Finding(
                Severity.WARNING,
                f"hot address {address} holds {token_balance} units of token {token_id}, below "
                f"the {pending_withdrawals} units of pending withdrawals",
                "Payouts wait until deposits (or the operator) bring the token",
            )
        )
    return findings


def _trx(sun: int) -> str:
    whole, frac = divmod(sun, SUN_PER_TRX)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".")
