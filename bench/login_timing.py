"""Benchmark: how long a failed password check takes for a real account name and for an
unknown one, with the production argon2 parameters. They should be alike: a difference
would tell an attacker which names exist (docs/security.md).

    .venv/bin/python bench/login_timing.py [--tries 7]

In-memory SQLite, nothing else; prints the median of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

from tortoise import Tortoise

from core.services import accounts
from core.services.errors import Unauthorized
from core.storage import db


async def failed_check_ms(name: str, tries: int) -> float:
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        with contextlib.suppress(Unauthorized):
            await accounts.check_password(name, "wrong password")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main(tries: int) -> None:
    await db.connect("sqlite://:memory:")
    try:
        await Tortoise.generate_schemas()
        await accounts.create_account("real-user", "staff", "correct horse")
        await failed_check_ms("warm-up", 1)  # the dummy hash is made on first use
        real = await failed_check_ms("real-user", tries)
        unknown = await failed_check_ms("nobody-by-that-name", tries)
        print(f"failed login, real name:    {real:6.0f} ms (median of {tries})")
        print(f"failed login, unknown name: {unknown:6.0f} ms (median of {tries})")
    finally:
        await db.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=7)
    asyncio.run(main(parser.parse_args().tries))
