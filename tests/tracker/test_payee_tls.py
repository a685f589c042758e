"""A paid seeder's payee service over TLS, with real certificates: reached by downloaders that
trust its CA; one that speaks plaintext to it gets a reason, not a crash."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from client_sdk.torrent.access import LegacyPeers
from client_sdk.torrent.paid import PaidDownloader, PaidSeeder, PaidSeederConfig
from client_sdk.torrent.session import sha256_file
from core.crypto import SigningKey
from tests.certs import TestCA
from tests.ledger_harness import LedgerHarness
from tests.tracker.conftest import next_ip, shared_file

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_payee_over_tls_serves_who_trusts_its_ca_and_explains_to_who_does_not(
    ledger: LedgerHarness, tmp_path: Path
) -> None:
    ca = TestCA(tmp_path / "pki")
    ip = next_ip()
    cert = ca.issue("payee", ip)
    shared = shared_file(tmp_path, 512 * 1024 + 7, [])
    seller = PaidSeeder(
        ip,
        SigningKey.generate(),
        ledger.target,
        tmp_path / "payee.db",
        config=PaidSeederConfig(reserve=300, choke_interval=1.0, legacy_peers=LegacyPeers.BLOCK),
        ledger_clock=ledger.clock,
        payee_credentials=grpc.ssl_server_credentials(
            [(cert.key.read_bytes(), cert.cert.read_bytes())]
        ),
    )
    seller.add(shared.ti, shared.data_dir)
    seller.start()

    def downloader(out: str, credentials: grpc.ChannelCredentials | None) -> PaidDownloader:
        key = SigningKey.generate()
        ledger.fund(key.address, 5_000_000)
        return PaidDownloader(
            key=key,
            ledger_target=ledger.target,
            ip=next_ip(),
            out_dir=tmp_path / out,
            source=shared.torrent,
            budget=2_000_000,
            seeders=[(seller.bt_endpoint, seller.payee_target)],
            timeout=60 if credentials else 5,
            payee_credentials=credentials,
        )

    try:
        trusting = await downloader("tls", grpc.ssl_channel_credentials(ca.pem.read_bytes())).arun()
        assert trusting.complete and trusting.spent == 300 * trusting.pieces
        assert sha256_file(tmp_path / "tls" / shared.name) == sha256_file(
            shared.data_dir / shared.name
        )
        plain = await downloader("plain", None).arun()
        assert not plain.complete and plain.spent == 0
        (peer,) = plain.peers
        assert not peer.paid
        assert peer.note.startswith(f"payee {seller.payee_target} unreachable (UNAVAILABLE")
    finally:
        seller.stop()
