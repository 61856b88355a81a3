"""Stopping background tasks: a lost cancellation costs a bounded wait, never a hang."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from core import tasks
from core.tasks import cancel_and_wait


async def forever() -> None:
    await asyncio.Event().wait()


async def loses_its_first_cancellation() -> None:
    """As a loop does whose library turned the cancellation into a timeout error."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await asyncio.Event().wait()


async def ignores_every_cancellation(stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await stop.wait()
        except asyncio.CancelledError:
            continue


async def fails_when_cancelled() -> None:
    try:
        await asyncio.Event().wait()
    finally:
        raise RuntimeError("broken while stopping")


async def test_tasks_that_obey_stop_at_once() -> None:
    started = [asyncio.create_task(forever()) for _ in range(3)]
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await cancel_and_wait(started, grace_s=5.0) == set()
    assert loop.time() - began < 1.0
    assert all(t.cancelled() for t in started)


async def test_a_lost_cancellation_is_repeated_after_the_grace() -> None:
    task = asyncio.create_task(loses_its_first_cancellation())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await cancel_and_wait([task], grace_s=0.2) == set()
    assert 0.2 <= loop.time() - began < 0.2 + tasks.AGAIN_S
    assert task.cancelled()


async def test_a_task_that_never_stops_is_given_up_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tasks, "AGAIN_S", 0.1)
    stop = asyncio.Event()
    stubborn = asyncio.create_task(ignores_every_cancellation(stop))
    await asyncio.sleep(0)
    assert await cancel_and_wait([stubborn], grace_s=0.1) == {stubborn}
    assert "did not stop when told twice" in caplog.text
    stop.set()
    await stubborn


async def test_what_a_task_raised_while_stopping_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = asyncio.create_task(fails_when_cancelled())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="core.tasks"):
        assert await cancel_and_wait([task]) == set()
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [task.exception()]
