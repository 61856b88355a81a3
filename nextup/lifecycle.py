"""How a command's process runs: the container started before its work and stopped after,
whether the work ends, fails or is interrupted."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from core.settings import Settings
from nextup.wiring import Container, build_container


def freeze_long_lived_objects() -> None:
    """What the imports made (aiogram's and pydantic's models: some 240,000 objects) lives
    as long as the process, so the garbage collector need not walk it again. Without this,
    interpreter exit alone took 2 to 9 s under CPU load, and `serve` missed its deadline
    for stopping after SIGTERM; every full collection while serving is shorter too."""
    gc.freeze()


async def started_container(settings: Settings) -> Container:
    container = build_container(settings)
    # The adapters the settings ask for (aiogram's models among them) were imported just
    # now, after main() froze what was there before: they live as long as the process too.
    freeze_long_lived_objects()
    await container.start()
    return container


def with_database(settings: Settings, work: Callable[[Container], Awaitable[int]]) -> int:
    """Short commands: the work runs on a started container, stopped however it ends."""

    async def run() -> int:
        container = await started_container(settings)
        try:
            return await work(container)
        finally:
            await container.stop()

    return asyncio.run(run())


def run_until_interrupted(
    settings: Settings, work: Callable[[Container], Coroutine[Any, Any, int]]
) -> int:
    """Long-running commands: SIGTERM and Ctrl-C stop them cleanly with exit status 0."""

    async def main() -> int:
        container = await started_container(settings)
        # The work runs in its own task (with its own copy of the context), so a stop that
        # lands inside a database transaction cannot leave it as this task's connection.
        task: asyncio.Task[int] = asyncio.create_task(work(container))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return 0
        finally:
            await container.stop()

    return asyncio.run(main())
