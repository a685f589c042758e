"""Paid seeding and downloading: libtorrent sessions joined to payment channels and the market."""

from client_sdk.torrent.paid.downloader import CloseMode, PaidDownloader
from client_sdk.torrent.paid.progress import DownloadSummary, PeerProgress, ProgressSnapshot
from client_sdk.torrent.paid.seeder import PaidSeeder, PaidSeederConfig
from client_sdk.torrent.paid.shares import PaidBytes, piece_payments

__all__ = [
    "CloseMode",
    "DownloadSummary",
    "PaidBytes",
    "PaidDownloader",
    "PaidSeeder",
    "PaidSeederConfig",
    "PeerProgress",
    "ProgressSnapshot",
    "piece_payments",
]
