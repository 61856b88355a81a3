"""The long-running processes: the web server with its background tasks, the notification
dispatcher alone, the Telegram bot alone. Sanic, aiogram and the webhooks are imported
inside them: the other commands start faster without."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import sys
from functools import partial
from typing import Any

from core.settings import Settings, TelegramMode
from nextup.lifecycle import freeze_long_lived_objects, run_until_interrupted
from nextup.wiring import Container, build_container

log = logging.getLogger(__name__)

YOUNG_COLLECTION_THRESHOLD = 10_000
"""Container objects allocated (net of those freed) between two collections of the
youngest generation; Python's default is 700. Serving creates and drops a few dicts per
message per client: with a thousand websockets at 20 calls/s that was some 130 collections
a second, and every tenth an older generation's. Collected 14 times less often, each young
collection walks at most this many objects (about a millisecond)."""


def tune_garbage_collector() -> None:
    """For a serving process, once its app is built: what exists then lives as long as the
    process (frozen, never walked again), and young objects are collected less often."""
    freeze_long_lived_objects()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    if args.workers > 1 and (settings.is_embedded or not settings.redis_url):
        print(
            "nextup: several workers need PostgreSQL (NEXTUP_DATABASE_URL) and Redis "
            "(NEXTUP_REDIS_URL)",
            file=sys.stderr,
        )
        return 2
    if settings.is_embedded:
        asyncio.run(_migrate_embedded(settings))
    loader = AppLoader(factory=partial(serving_app, settings, args.workers))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        single_process=args.workers == 1,
        access_log=False,
        motd=False,
    )
    print(f"NextUp on {settings.base_url}  (API docs: {settings.base_url}/docs)")
    try:
        if args.workers == 1:
            Sanic.serve_single(primary=app)
        else:
            Sanic.serve(primary=app, app_loader=loader)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"nextup: port {settings.port} is in use: set NEXTUP_PORT (or --port)", file=sys.stderr
        )
        return 1
    return 0


async def _migrate_embedded(settings: Settings) -> None:
    from core.storage import db

    await db.migrate(settings.database_url)


def serving_app(settings: Settings, workers: int = 1) -> Any:
    """The app a server process runs: the container starts and stops with the server, and
    so do the background tasks: the no-show sweep, the notification dispatcher, the daily
    retention purge (in one process of all, `core.services.privacy`) and, in one
    process with polling, the Telegram bot (several processes would fight over updates).
    Twilio's webhooks are mounted when the SMS channel has credentials."""
    from bot.app import register_webhook, run_polling
    from bot.webhook import webhook_blueprint
    from core.delivery.dispatcher import SHUTDOWN_GRACE_S
    from core.services.housekeeping import sweep_no_shows_forever
    from sms.webhooks import sms_blueprint
    from web.app import create_app

    container = build_container(settings)
    app = create_app(container, name="nextup")
    # A request or websocket still open after SIGTERM gets as long as a send in flight.
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = SHUTDOWN_GRACE_S
    telegram = container.telegram
    webhook = settings.telegram_mode is TelegramMode.WEBHOOK
    if telegram is not None and webhook and settings.telegram_webhook_secret:
        app.blueprint(
            webhook_blueprint(telegram.bot, telegram.dispatcher, settings.telegram_webhook_secret)
        )

    if settings.sms_configured and settings.twilio_auth_token:
        app.blueprint(sms_blueprint(container.sms, settings.twilio_auth_token, settings.base_url))

    @app.before_server_start
    async def start(app: Any) -> None:
        await container.start(migrate=False)
        dispatcher = container.notification_dispatcher()
        app.ctx.dispatcher = dispatcher
        tasks = [
            sweep_no_shows_forever(container.queues),
            dispatcher.run(),
            container.privacy.purge_daily_forever(),
        ]
        if telegram is not None and webhook:
            url = f"{settings.base_url}/hooks/telegram"
            await register_webhook(telegram.bot, url, settings.telegram_webhook_secret)
        elif telegram is not None and workers == 1:
            tasks.append(run_polling(telegram.bot, telegram.dispatcher))
        app.ctx.background = [asyncio.create_task(t) for t in tasks]

    @app.before_server_stop
    async def stop_background(app: Any) -> None:
        for task in app.ctx.background:
            task.cancel()
        # The dispatcher gives sends in flight SHUTDOWN_GRACE_S; nothing waits longer.
        done, stuck = await asyncio.wait(app.ctx.background, timeout=SHUTDOWN_GRACE_S + 1)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("background task failed", exc_info=task.exception())
        if stuck:
            log.warning("%d background tasks did not stop in time", len(stuck))
        await app.ctx.dispatcher.close()

    @app.after_server_stop
    async def stop(app: Any) -> None:
        await container.stop()

    tune_garbage_collector()  # in every worker process
    return app


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        dispatcher = container.notification_dispatcher()
        print("NextUp notification dispatcher running (Ctrl-C stops it)", file=sys.stderr)
        # The daily retention purge runs in whichever process takes it (a lease row).
        purge = asyncio.create_task(container.privacy.purge_daily_forever())
        try:
            await dispatcher.run()
        finally:
            purge.cancel()
            await dispatcher.close()
        return 0

    return run_until_interrupted(settings, work)


def cmd_bot(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import run_polling

    if not settings.telegram_token:
        print("nextup: set NEXTUP_TELEGRAM_TOKEN to run the bot", file=sys.stderr)
        return 2
    if settings.telegram_mode is TelegramMode.WEBHOOK:
        print(
            "nextup: NEXTUP_TELEGRAM_MODE=webhook: updates arrive at /hooks/telegram of "
            "`nextup serve`; there is nothing to poll",
            file=sys.stderr,
        )
        return 2

    async def work(container: Container) -> int:
        assert container.telegram is not None
        print("NextUp Telegram bot polling (Ctrl-C stops it)", file=sys.stderr)
        await run_polling(container.telegram.bot, container.telegram.dispatcher)
        return 0

    return run_until_interrupted(settings, work)
