"""Database connection and migrations, for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as run_migrations

APP = "nextup"


POOL_MAXSIZE = 20
"""asyncpg's pool; tortoise's default of 5 queues requests behind each other under load."""


async def keep_session(connection: object) -> None:
    """What a pooled PostgreSQL connection gets on its way back to the pool, beyond the
    rollback of a transaction left open (which asyncpg always does first): nothing.

    asyncpg's default sends one more statement on every release (`RESET ALL`, `UNLISTEN *`,
    `CLOSE ALL`, `pg_advisory_unlock_all()`), and most queries outside a command's
    transaction take a connection and give it back: it was ten round trips of every
    seventeen a request made. None of that session state is ever left on a pooled
    connection here: no `SET` outside `SET LOCAL`, no `LISTEN` (the bus is Redis or in
    process), no cursor outside a transaction, and the one session advisory lock (the
    Telegram poller's) is taken on a connection of its own."""


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = database_url.replace("postgresql://", "postgres://", 1)
    connection: str | dict[str, Any] = url
    if url.startswith("postgres://"):
        if "maxsize=" not in url:
            url += ("&" if "?" in url else "?") + f"maxsize={POOL_MAXSIZE}"
        connection = expand_db_url(url)
        connection["credentials"]["reset"] = keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            APP: {
                "models": ["core.storage.models"],
                "migrations": "migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(database_url: str) -> None:
    """Apply every pending migration in `migrations/`."""
    await run_migrations(config=tortoise_config(database_url))
    await Tortoise.close_connections()


async def connect(database_url: str) -> None:
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()


async def ping() -> None:
    """Raises when the database does not answer."""
    await connections.get("default").execute_query("SELECT 1")


def is_postgres() -> bool:
    return bool(connections.get("default").capabilities.dialect == "postgres")
