"""PostgreSQL's connection pool: a connection goes back to it without a statement of its
own (`core.storage.db.keep_session`), and a transaction left open is still rolled back,
which is what makes that safe."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import connections

from nextup.wiring import Container
from tests.conftest import on_postgres


@pytest.fixture
def pool(container: Container) -> Any:
    if not on_postgres():
        pytest.skip("PostgreSQL's pool")
    return connections.get("default")._pool  # type: ignore[attr-defined]


async def test_a_released_connection_is_sent_nothing(pool: Any) -> None:
    sent: list[str] = []
    async with pool.acquire() as connection:
        connection.add_query_logger(lambda record: sent.append(record.query))
        await connection.fetchval("SELECT 1")
    # asyncpg's default would have sent "SELECT pg_advisory_unlock_all(); CLOSE ALL; ..."
    assert sent == ["SELECT 1"]


async def test_a_transaction_left_open_is_rolled_back_on_release(pool: Any) -> None:
    proxy = await pool.acquire()
    connection = proxy._con  # the connection itself, after the pool has taken it back
    await connection.execute("CREATE TEMPORARY TABLE left_open (n int)")
    await connection.transaction().start()
    await connection.execute("INSERT INTO left_open VALUES (1)")
    await pool.release(proxy)
    assert not connection.is_in_transaction()
    assert await connection.fetchval("SELECT count(*) FROM left_open") == 0
    await connection.execute("DROP TABLE left_open")
