"""Database connection and migrations, for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as run_migrations

APP = "nextup"


POOL_MAXSIZE = 20
"""asyncpg's pool; tortoise's default of 5 queues requests behind each other under load."""


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = database_url.replace("postgresql://", "postgres://", 1)
    if url.startswith("postgres://") and "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + f"maxsize={POOL_MAXSIZE}"
    return {
        "connections": {"default": url},
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
