"""The typed ledger client against the real ledger server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from btt.ledger.v1 import ledger_pb2 as pb
from client_sdk.ledger_client import (
    AsyncLedgerClient,
    LedgerClient,
    LedgerRejected,
    LedgerUnavailable,
    NoSigningKey,
)
from core.clock import ManualClock
from core.crypto import SigningKey
from ledger.rpc.server import TlsFiles, build_service, start_server
from tests.ledger_harness import LedgerHarness


async def test_rejections_are_typed_with_the_ledger_reason(ledger: LedgerHarness) -> None:
    key = SigningKey.generate()
    async with AsyncLedgerClient(ledger.target, key) as client:
        info = await client.get_info()
        assert info.ledger_id == ledger.ledger_id == await client.ledger_id()
        with pytest.raises(LedgerRejected) as err:
            await client.transfer(SigningKey.generate().address, 5)
        assert err.value.reason == "INSUFFICIENT_FUNDS"
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(LedgerRejected) as err:
            await client.get_channel(b"\x00" * 32)
        assert err.value.reason == "UNKNOWN_CHANNEL" and err.value.code == grpc.StatusCode.NOT_FOUND
    async with AsyncLedgerClient(ledger.target) as anonymous:
        with pytest.raises(NoSigningKey):
            await anonymous.transfer(key.address, 1)


async def test_concurrent_senders_of_one_account_recover_from_nonce_reuse(
    ledger: LedgerHarness,
) -> None:
    key, to = SigningKey.generate(), SigningKey.generate().address
    ledger.fund(key.address, 1_000)
    # Two processes' worth of clients on one key: both read nonce 0 and sign nonce 1; the one
    # refused with NONCE_REUSED refreshes and signs nonce 2 (one retry is all it gets).
    clients = [AsyncLedgerClient(ledger.target, key) for _ in range(2)]
    try:
        for _ in range(3):
            results = await asyncio.gather(*(c.transfer(to, 10) for c in clients))
            assert len(results) == 2
        assert await clients[0].balance(to) == 60
        assert (await clients[0].account()).nonce == 6
    finally:
        for c in clients:
            await c.close()


async def test_reads_retry_then_raise_unavailable() -> None:
    client = AsyncLedgerClient("127.0.0.1:1", timeout=0.2, read_attempts=2)
    try:
        with pytest.raises(LedgerUnavailable) as err:
            await client.get_info()
        assert err.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        await client.close()


async def test_events_follow_and_resume_by_id(ledger: LedgerHarness) -> None:
    key, bob = SigningKey.generate(), SigningKey.generate().address
    ledger.fund(key.address, 1_000)  # event before we subscribe
    async with AsyncLedgerClient(ledger.target, key) as client:
        seen: list[pb.Event] = []

        async def follow() -> None:
            async for event in client.events(account=key.address, after_event_id=1):
                seen.append(event)
                if len(seen) == 3:
                    return

        task = asyncio.create_task(follow())
        new_only: list[pb.Event] = []

        async def follow_new() -> None:
            async for event in client.events(account=key.address, only_new=True):
                new_only.append(event)
                return

        newer = asyncio.create_task(follow_new())
        await asyncio.sleep(0.1)  # both subscribed before the transfers
        for amount in (1, 2, 3):
            await client.transfer(bob, amount)
        await asyncio.wait_for(task, 10)
        await asyncio.wait_for(newer, 10)
        assert new_only[0].event_id == seen[0].event_id  # the credit before it was skipped
        assert [e.kind for e in seen] == [pb.EVENT_KIND_TRANSFER] * 3
        assert [e.amount for e in seen] == [1, 2, 3]
        # Resume after the first one: the rest are replayed, nothing twice.
        replay = []
        async for event in client.events(account=key.address, after_event_id=seen[0].event_id):
            replay.append(event.event_id)
            if len(replay) == 2:
                break
        assert replay == [seen[1].event_id, seen[2].event_id]


def test_sync_facade(ledger: LedgerHarness) -> None:
    key = SigningKey.generate()
    ledger.fund(key.address, 5_000)
    with LedgerClient(ledger.target, key) as client:
        assert client.balance() == 5_000
        reply = client.transfer(SigningKey.generate().address, 1_000)
        assert reply.from_account.balance == 4_000
        w = client.request_withdrawal(SigningKey.generate().address, 500)
        assert w.status == "pending" and client.balance() == 3_500
        assert client.audit().balanced
        with pytest.raises(LedgerRejected) as err:
            client.transfer(key.address, 1)
        assert err.value.reason == "SELF_TRANSFER"


def _self_signed(tmp: Path) -> TlsFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "btt-ledger test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsFiles(cert=tmp / "cert.pem", key=tmp / "key.pem")


async def test_tls_with_a_ca_certificate(tmp_path: Path) -> None:
    tls = _self_signed(tmp_path)
    service = build_service(
        f"sqlite:///{tmp_path / 'tls.db'}", clock=ManualClock(), migrate=True, ledger_id="tls"
    )
    running = await start_server(service, "127.0.0.1:0", tls=tls, sweep_interval=None)
    try:
        target = f"localhost:{running.port}"
        async with AsyncLedgerClient(target, ca_cert=tls.cert) as client:
            assert await client.ledger_id() == "tls"
        async with AsyncLedgerClient(target, timeout=1, read_attempts=1) as plaintext:
            with pytest.raises(LedgerUnavailable):
                await plaintext.get_info()
    finally:
        await running.stop(0)
        service.store.dispose()
