"""The local channel stores: schema versions, upgrades of older files, statuses as core enums."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from client_sdk.channel.store import (
    PayeeRecord,
    PayeeStore,
    PayerRecord,
    PayerStore,
    StoreVersionError,
)
from core.status import ChannelStatus

# Version 1, as written before the stores carried a version (user_version 0, lowercase status).
V1_PAYER = """
CREATE TABLE IF NOT EXISTS channels (
    channel_id BLOB PRIMARY KEY, payer TEXT NOT NULL, payee TEXT NOT NULL,
    payee_endpoint TEXT NOT NULL, info_hash TEXT NOT NULL, deposit INTEGER NOT NULL,
    expiry INTEGER NOT NULL, salt INTEGER NOT NULL, rate INTEGER NOT NULL,
    refund BLOB NOT NULL, topup_sequence INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states (
    channel_id BLOB NOT NULL REFERENCES channels(channel_id), nonce INTEGER NOT NULL,
    cumulative INTEGER NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (channel_id, nonce));
INSERT INTO channels VALUES (x'01', 'TA', 'TB', '127.0.0.1:1', 'ih', 10, 99, -5, 2, x'', 0, 'open');
INSERT INTO channels VALUES (x'02', 'TA', 'TB', '127.0.0.1:1', 'ih', 10, 99, 5, 2, x'', 0,
    'proposed');
INSERT INTO channels VALUES (x'03', 'TA', 'TB', '127.0.0.1:1', 'ih', 10, 99, 5, 2, x'', 1,
    'settled');
INSERT INTO states VALUES (x'01', 3, 6, x'aa');
"""
V1_PAYEE = """
CREATE TABLE IF NOT EXISTS channels (
    channel_id BLOB PRIMARY KEY, payer TEXT NOT NULL, deposit INTEGER NOT NULL,
    expiry INTEGER NOT NULL, rate INTEGER NOT NULL, info_hash TEXT NOT NULL,
    peer_endpoint TEXT NOT NULL, status TEXT NOT NULL, best_nonce INTEGER NOT NULL,
    best_cumulative INTEGER NOT NULL, best_signature BLOB NOT NULL,
    checkpoint_nonce INTEGER NOT NULL, owed INTEGER NOT NULL, topup_sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS proposals (
    channel_id BLOB PRIMARY KEY, payer TEXT NOT NULL, deposit INTEGER NOT NULL,
    expiry INTEGER NOT NULL, rate INTEGER NOT NULL, info_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    payer TEXT PRIMARY KEY, count INTEGER NOT NULL, last_reason TEXT NOT NULL);
INSERT INTO channels VALUES (x'01', 'TA', 10, 99, 2, 'ih', 'p', 'closing', 3, 6, x'aa', 2, 8, 0);
INSERT INTO channels VALUES (x'02', 'TA', 10, 99, 2, 'ih', 'p', 'open', 0, 0, x'', 0, 0, 0);
"""


def _write(path: Path, script: str, version: int = 0) -> None:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def test_a_new_payer_store_is_at_the_current_version_and_round_trips(tmp_path: Path) -> None:
    store = PayerStore(tmp_path / "payer.db")
    assert store.version == PayerStore.VERSION == 2
    record = PayerRecord(b"\x09" * 32, "TA", "TB", "e", "ih", 10, 99, 2**64 - 1, 2, b"")
    store.save(record)
    assert store.get(record.channel_id) == record and record.status is None
    assert record.status_label == "proposed"
    opened = replace(record, channel_id=b"\x08" * 32, status=ChannelStatus.OPEN)
    store.save(opened)
    got = store.get(opened.channel_id)
    assert got is not None and got.status is ChannelStatus.OPEN and got.status_label == "open"
    store.close()


def test_a_version_1_payer_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "payer.db"
    _write(path, V1_PAYER)
    store = PayerStore(path)
    assert store.version == 2
    statuses = {r.channel_id: r.status for r in store.all()}
    assert statuses == {b"\x01": ChannelStatus.OPEN, b"\x02": None, b"\x03": ChannelStatus.SETTLED}
    one = store.get(b"\x01")
    assert one is not None and one.salt == 2**64 - 5  # untouched columns read as before
    latest = store.latest_state(b"\x01")
    assert latest is not None and (latest.nonce, latest.cumulative) == (3, 6)
    store.close()
    again = PayerStore(path)  # opening an upgraded file changes nothing
    assert {r.channel_id: r.status for r in again.all()} == statuses
    again.close()


def test_a_version_1_payee_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "payee.db"
    _write(path, V1_PAYEE)
    store = PayeeStore(path)
    assert store.version == 2
    records = {r.channel_id: r for r in store.all()}
    assert records[b"\x01"].status is ChannelStatus.CLOSING
    assert (records[b"\x01"].best_nonce, records[b"\x01"].owed) == (3, 8)
    assert records[b"\x02"].status is ChannelStatus.OPEN
    store.put(records[b"\x02"].with_(status=ChannelStatus.SETTLED))
    store.close()
    reopened = {r.channel_id: r.status for r in PayeeStore(path).all()}
    assert reopened[b"\x02"] is ChannelStatus.SETTLED


def test_a_new_payee_store_is_at_the_current_version(tmp_path: Path) -> None:
    store = PayeeStore(tmp_path / "payee.db")
    record = PayeeRecord(b"\x07" * 32, "TA", 10, 99, 2, "ih", "p")
    store.put(record)
    assert store.version == 2 and store.all() == [record]
    store.close()


@pytest.mark.parametrize("store_type", [PayerStore, PayeeStore])
def test_a_file_from_a_newer_version_is_refused_untouched(
    tmp_path: Path, store_type: type[PayerStore] | type[PayeeStore]
) -> None:
    path = tmp_path / "future.db"
    _write(path, "CREATE TABLE channels (x INTEGER); INSERT INTO channels VALUES (1);", 3)
    with pytest.raises(StoreVersionError, match="schema version 3"):
        store_type(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("SELECT x FROM channels").fetchall() == [(1,)]
    db.close()
