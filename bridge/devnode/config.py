"""The devnode chain's parameters: java-tron's fees and limits, solidity depth, pool size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChainConfig:
    solid_depth: int = 19
    free_bandwidth: int = 600  # bytes per account per day, java-tron's free net limit
    fee_per_byte: int = 1_000  # sun burnt per byte beyond the free allowance
    create_account_fee: int = 100_000  # bandwidth fee of a tx that creates its recipient
    create_account_system_fee: int = 1_000_000  # charged by the contract that creates it
    asset_issue_fee: int = 1_024_000_000
    max_pending: int = 10_000
