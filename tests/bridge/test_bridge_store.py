"""The bridge's own database: built by the migrations it ships, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bridge import schema
from bridge.schema import DepositStatus, PayoutStatus
from bridge.store import BridgeStore
from core.database import make_engine


def test_migrations_build_exactly_the_tables(db_url: str) -> None:
    store = BridgeStore(db_url)
    try:
        with store.engine.connect() as conn:
            opts = {"compare_type": True, "version_table": schema.VERSION_TABLE}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), schema.metadata)
            assert schema.VERSION_TABLE in inspect(conn).get_table_names()
        assert diff == []
    finally:
        store.close()
    BridgeStore(db_url).close()  # a second start finds it current


def test_a_database_made_before_migrations_is_upgraded_in_place(db_url: str) -> None:
    # What the bridge's create_all made before it had migrations: revision 0001's tables.
    engine = make_engine(db_url)
    old = [t for t in schema.metadata.sorted_tables if t is not schema.chain_payouts]
    schema.metadata.create_all(engine, tables=old)
    with engine.begin() as conn:
        conn.execute(schema.kv.insert().values(key="scan_cursor", value="42"))
        conn.execute(
            schema.deposits.insert().values(
                txid="a" * 64,
                contract_index=0,
                block_number=7,
                tron_from="T-sender",
                amount=5,
                account=None,
                status="suspense",
                reason="unbound",
                seen_at=1.0,
            )
        )
    engine.dispose()
    store = BridgeStore(db_url)
    try:
        assert store.cursor() == 42
        (kept,) = store.deposits(DepositStatus.SUSPENSE)
        assert (kept.txid, kept.reason) == ("a" * 64, "unbound")
        store.record_chain_payout(
            "b" * 64,
            0,
            withdrawal_id=3,
            block_number=9,
            to_address="T-user",
            amount=5,
            success=True,
        )
        (memo,) = store.seen_locally(3, "2026-01-01").memos
        assert (memo.txid, memo.success) == ("b" * 64, True)
        assert store.payouts(PayoutStatus.OPEN) == []
    finally:
        store.close()
