"""The suite runs on a PostgreSQL database of its own and never empties one it did not create."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.conftest import database_url, services_required
from tests.suite_database import MARK, ForeignDatabase, claim


def on_server(name: str) -> str:
    return urlunsplit(urlsplit(database_url(Path(".")))._replace(path=f"/{name}", query=""))


@pytest.fixture
async def spare() -> AsyncIterator[str]:
    """The name of a database that does not exist yet; dropped afterwards."""
    services_required()
    name = f"nextup_claim_{uuid.uuid4().hex[:8]}"
    yield name
    admin = await asyncpg.connect(on_server("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def fetch(name: str, query: str) -> object:
    conn = await asyncpg.connect(on_server(name))
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def execute(name: str, script: str) -> None:
    conn = await asyncpg.connect(on_server(name))
    try:
        await conn.execute(script)
    finally:
        await conn.close()


COMMENT = (
    "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
    " WHERE datname = current_database()"
)


async def test_a_missing_database_is_created_marked_and_emptied_on_each_run(spare: str) -> None:
    await claim(on_server(spare))
    assert await fetch(spare, COMMENT) == MARK
    await execute(spare, "CREATE TABLE leftover (n int); INSERT INTO leftover VALUES (1);")
    await claim(on_server(spare))
    assert await fetch(spare, "SELECT to_regclass('public.leftover')") is None


async def test_a_database_it_did_not_create_is_refused_and_left_as_it_was(spare: str) -> None:
    await execute("postgres", f'CREATE DATABASE "{spare}"')
    await execute(spare, "CREATE TABLE patients (n int); INSERT INTO patients VALUES (7);")
    with pytest.raises(ForeignDatabase, match="was not created by the test suite"):
        await claim(on_server(spare))
    assert await fetch(spare, "SELECT n FROM patients") == 7
    assert await fetch(spare, COMMENT) is None


async def test_an_empty_database_is_taken_and_marked(spare: str) -> None:
    await execute("postgres", f'CREATE DATABASE "{spare}"')
    await claim(on_server(spare))
    assert await fetch(spare, COMMENT) == MARK


async def test_the_maintenance_database_is_never_the_suites() -> None:
    with pytest.raises(ForeignDatabase):
        await claim("postgres://postgres@127.0.0.1:5432/postgres")
