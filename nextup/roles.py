"""What a long-running process does besides (or instead of) serving HTTP, by role: the
dispatcher role sends notifications and runs the housekeeping (no-show sweep, quiet lines
re-evaluated); the bot role long-polls Telegram while it holds the bot's poller lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from core.settings import ProcessRole, TelegramMode
from core.storage.poller_lock import Holder, PollerLock
from core.tasks import cancel_and_wait
from nextup.wiring import Container

log = logging.getLogger(__name__)


class RoleTasks:
    """The background work of `roles` on a started container; `close` after cancelling."""

    def __init__(self, container: Container, roles: frozenset[ProcessRole], process: str) -> None:
        self.container = container
        self.roles = roles
        self.process = process
        self.dispatcher = (
            container.notification_dispatcher() if ProcessRole.DISPATCHER in roles else None
        )

    def coroutines(self) -> list[Coroutine[Any, Any, None]]:
        from core.services.daily_summary import DailySummaries
        from core.services.housekeeping import housekeeping_forever
        from core.services.staff_alerts import StaffAlerts

        work: list[Coroutine[Any, Any, None]] = []
        if self.dispatcher is not None:
            # Housekeeping (the no-show sweep, the re-evaluation of quiet lines) and the daily
            # retention purge go with the dispatcher role: any number of processes may run
            # them (the purge runs in whichever takes its lease row, `core.services.privacy`).
            interval_s = self.container.settings.reevaluate_interval_s
            work += [
                self.dispatcher.run(),
                housekeeping_forever(
                    self.container.queues,
                    interval_s,
                    alerts=StaffAlerts(self.container.queues),
                    summaries=DailySummaries(self.container.queues),
                ),
                self.container.privacy.purge_daily_forever(),
            ]
        if ProcessRole.BOT in self.roles and self.polls:
            work.append(self.poll_telegram())
        return work

    @property
    def polls(self) -> bool:
        settings = self.container.settings
        return (
            self.container.telegram is not None and settings.telegram_mode is TelegramMode.POLLING
        )

    async def poll_telegram(self) -> None:
        from bot.app import run_polling

        telegram = self.container.telegram
        assert telegram is not None
        lock = self.container.poller_lock(self.process)
        await poll_exclusively(lock, lambda: run_polling(telegram.bot, telegram.dispatcher))

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.close()


async def poll_exclusively(lock: PollerLock, poll: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Polls while this process holds the lock; refused, says who holds it and asks again
    every `retry_interval_s`, so it takes over when the holder stops."""
    told: Holder | None = None
    unreachable = False
    try:
        while True:
            try:
                holder = await lock.try_acquire()
            except Exception as exc:  # Redis or the database away: the role must not end
                if not unreachable:  # once per outage, not every retry
                    log.warning("cannot reach the Telegram poller lock (%r); trying again", exc)
                unreachable = True
                await asyncio.sleep(lock.retry_interval_s)
                continue
            unreachable = False
            if holder is None:
                log.info("Telegram poller lock taken: this process polls the bot")
                told = None
                if not await _poll_while_held(lock, poll):
                    return  # polling ended by itself
                log.warning(
                    "lost the Telegram poller lock (another process took it over): stopped "
                    "polling; this process takes over again if that one stops"
                )
                continue
            if holder != told:
                _refused(holder, lock.me)
                told = holder
            await asyncio.sleep(lock.retry_interval_s)
    finally:
        await lock.close()


def _refused(holder: Holder, me: Holder) -> None:
    level = logging.INFO if me.is_sibling_of(holder) else logging.WARNING
    log.log(
        level,
        "this Telegram bot is already polled by %s, so this process does not poll it "
        "(Telegram gives each update to one poller). It takes over if that one stops. "
        "To poll from this process only, stop the other one; to never poll from here, "
        "leave `bot` out of NEXTUP_ROLES (or `serve --roles`) for this process",
        holder.describe(),
    )


async def _poll_while_held(lock: PollerLock, poll: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Runs `poll` and renews the lock beside it; True when it stopped because the lock was
    lost, False when polling ended by itself."""
    polling = asyncio.create_task(poll())
    try:
        while True:
            done, _ = await asyncio.wait({polling}, timeout=lock.renew_interval_s)
            if done:
                polling.result()  # what it raised goes up
                return False
            if not await lock.renew():
                break
    finally:
        await cancel_and_wait([polling])
        await lock.release()
    return True
