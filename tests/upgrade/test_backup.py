"""Backup and restore as docs/deploy.md tells an operator to do it: `pg_dump -Fc` of a
database in use, `pg_restore` into a new one, and the app reads and works on the copy
(PostgreSQL only: the embedded SQLite database is backed up by copying its file)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate as run_migrations

from core.storage.db import tortoise_config
from tests.conftest import on_postgres
from tests.upgrade import stored_day
from tests.upgrade.conftest import ScratchDatabase, the_app_works_on


def postgres_tool(name: str) -> str:
    """`pg_dump` on the PATH (Debian's wrapper picks the cluster's version), else the
    newest under /usr/lib/postgresql (a newer pg_dump reads an older server, not the
    reverse)."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.fail(f"{name} is missing: install Debian's postgresql-client package")
    return found


def libpq_url(url: str) -> str:
    """The URL without tortoise's pool options, which libpq does not take."""
    return urlunsplit(urlsplit(url)._replace(query=""))


async def test_a_dump_restored_into_a_new_database_is_the_same_data(
    scratch_database: ScratchDatabase, tmp_path: Path
) -> None:
    if not on_postgres():
        pytest.skip("pg_dump/pg_restore are PostgreSQL's; the embedded database is one file")
    source = await scratch_database("backup_source")
    config = tortoise_config(source)
    await run_migrations(config=config)
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    try:
        written = await stored_day.write()
    finally:
        await Tortoise.close_connections()

    dump = tmp_path / "nextup.dump"
    env = os.environ | {"PGCONNECT_TIMEOUT": "10"}
    subprocess.run(
        [postgres_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(dump), libpq_url(source)],
        check=True,
        env=env,
        timeout=120,
    )
    target = await scratch_database("backup_restored")  # created empty
    subprocess.run(
        [
            postgres_tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            libpq_url(target),
            str(dump),
        ],
        check=True,
        env=env,
        timeout=120,
    )

    await Tortoise.init(config=tortoise_config(target))
    try:
        problems, compared = await stored_day.differences(written)
    finally:
        await Tortoise.close_connections()
    assert problems == [] and compared > 250
    await run_migrations(config=tortoise_config(target))  # nothing left to apply
    await Tortoise.close_connections()
    # The restored database takes new writes: the call-next below inserts an outbox row,
    # numbered by 0011's trigger and sequence, and an hourly tally past the restored ids.
    await the_app_works_on(target)
