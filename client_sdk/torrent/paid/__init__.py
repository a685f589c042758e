"""Paid seeding and downloading: libtorrent sessions joined to payment channels and the market."""

from client_sdk.torrent.paid.downloader import CloseMode, PaidDownloader, Wanted
from client_sdk.torrent.paid.progress import (
    DownloadsSummary,
    DownloadSummary,
    PeerProgress,
    ProgressSnapshot,
)
from client_sdk.torrent.paid.seeder import PaidSeeder, PaidSeederConfig
from client_sdk.torrent.paid.shares import PaidBytes, piece_payments

__all__ = [
    "CloseMode",
    "DownloadSummary",
    "DownloadsSummary",
    "PaidBytes",
    "PaidDownloader",
    "PaidSeeder",
    "PaidSeederConfig",
    "PeerProgress",
    "ProgressSnapshot",
    "Wanted",
    "piece_payments",
]
