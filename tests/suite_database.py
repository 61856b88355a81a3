"""The PostgreSQL database the suite runs on: its own, never one it did not create.

Every run drops and recreates the `public` schema of NEXTUP_TEST_DATABASE_URL. So the
suite creates that database when it is missing and marks it (a comment on the database);
it takes an existing database only if it carries the mark, or if it is empty (then marks
it). A database holding anything else — someone's `test`, a real NextUp database — is
refused before anything is dropped.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

MARK = "nextup test suite: its public schema is dropped and recreated by every run"


class ForeignDatabase(RuntimeError):
    """The configured database holds data the suite did not put there."""


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def claim(url: str) -> None:
    """Creates the database when missing, refuses a foreign one, empties the suite's own."""
    parts = urlsplit(url)._replace(query="")  # tortoise's options are not asyncpg's
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise ForeignDatabase(f"refusing to run the suite on the database {name!r}")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    admin = await asyncpg.connect(maintenance)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f"CREATE DATABASE {_quoted(name)}")
            await admin.execute(f"COMMENT ON DATABASE {_quoted(name)} IS {_literal(MARK)}")
    finally:
        await admin.close()

    conn = await asyncpg.connect(urlunsplit(parts))
    try:
        mark = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = current_database()"
        )
        if mark != MARK:
            objects = await conn.fetchval(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public'"
            )
            if objects:
                raise ForeignDatabase(
                    f"the database {name!r} is not empty ({objects} relations in its public "
                    "schema) and was not created by the test suite, which drops that schema "
                    "on every run. Point "
                    "NEXTUP_TEST_DATABASE_URL (make test: PG_URL) at a database of its own: "
                    "a missing one is created (make test uses nextup_test)."
                )
            await conn.execute(f"COMMENT ON DATABASE {_quoted(name)} IS {_literal(MARK)}")
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
