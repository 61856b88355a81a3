"""The long-running processes: the web server with the background work of its other roles,
a process of roles without HTTP (the dispatcher alone, the Telegram bot alone, or both).
Sanic, aiogram and the webhooks are imported inside them: the other commands start faster
without."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import multiprocessing
import sys
from functools import partial
from typing import Any

from core.redact import install_log_masking
from core.settings import ProcessRole, Settings, SettingsError, TelegramMode, parse_roles
from core.tasks import cancel_and_wait
from nextup.lifecycle import freeze_long_lived_objects, run_until_interrupted
from nextup.logs import logging_config
from nextup.roles import RoleTasks
from nextup.wiring import Container, build_container

log = logging.getLogger(__name__)

YOUNG_COLLECTION_THRESHOLD = 10_000
"""Container objects allocated (net of those freed) between two collections of the
youngest generation; Python's default is 700. Serving creates and drops a few dicts per
message per client: with a thousand websockets at 20 calls/s that was some 130 collections
a second, and every tenth an older generation's. Collected 14 times less often, each young
collection walks at most this many objects (about a millisecond)."""


WORKER_START_S = 120
"""How long `serve --workers N` waits for each Sanic worker to start. Sanic's own 30 s is
less than importing and connecting has taken on a busy 2-CPU machine, and when it runs out
Sanic SIGKILLs its whole process group (whoever started it, too)."""


def allow_slow_worker_start() -> None:
    from sanic.worker.manager import WorkerManager
    from sanic.worker.process import WorkerProcess

    # Counted in Sanic's polls of 0.1 s.
    WorkerManager.THRESHOLD = WorkerProcess.THRESHOLD = WORKER_START_S * 10


def tune_garbage_collector() -> None:
    """For a serving process, once its app is built: what exists then lives as long as the
    process (frozen, never walked again), and young objects are collected less often."""
    freeze_long_lived_objects()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.roles is not None:
        try:
            overrides["roles"] = ",".join(parse_roles(args.roles))
        except ValueError as exc:
            raise SettingsError(f"--roles: {exc}") from None
    settings = settings.model_copy(update=overrides)
    roles = settings.role_set
    if ProcessRole.WEB not in roles:
        return run_roles(settings, roles, "nextup-serve")
    if args.workers > 1 and (settings.is_embedded or not settings.redis_url):
        print(
            "nextup: several workers need PostgreSQL (NEXTUP_DATABASE_URL) and Redis "
            "(NEXTUP_REDIS_URL)",
            file=sys.stderr,
        )
        return 2
    if settings.is_embedded:
        asyncio.run(_migrate_embedded(settings))
    loader = AppLoader(factory=partial(serving_app, settings))
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
            allow_slow_worker_start()
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


def serving_app(settings: Settings) -> Any:
    """The app a server process (each of `--workers N`) runs: the container starts and
    stops with the server, and so does the background work of the process's other roles
    (nextup/roles.py): the dispatcher with the housekeeping, the Telegram poller (which
    polls only while it holds the bot's poller lock). Twilio's webhooks are mounted when
    the SMS channel has credentials. Each worker is a process of its own that never ran
    `main()`, so the app applies the logging configuration in it."""
    from bot.app import register_webhook
    from bot.webhook import webhook_blueprint
    from core.delivery.dispatcher import SHUTDOWN_GRACE_S
    from sms.webhooks import sms_blueprint
    from web.app import create_app

    container = build_container(settings)
    app = create_app(container, name="nextup", log_config=logging_config(settings.log_format))
    # Made in every server process (a worker of several is a fresh interpreter), after
    # Sanic has set up its own loggers' handlers.
    install_log_masking()
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
        roles = RoleTasks(container, settings.role_set, multiprocessing.current_process().name)
        app.ctx.roles = roles
        log.info("serving with roles %s", settings.roles)
        if telegram is not None and webhook:
            url = f"{settings.base_url}/hooks/telegram"
            await register_webhook(telegram.bot, url, settings.telegram_webhook_secret)
        app.ctx.background = [asyncio.create_task(work) for work in roles.coroutines()]

    @app.before_server_stop
    async def stop_background(app: Any) -> None:
        # The dispatcher gives sends in flight SHUTDOWN_GRACE_S; nothing waits longer.
        await cancel_and_wait(app.ctx.background, SHUTDOWN_GRACE_S + 1)
        await app.ctx.roles.close()

    @app.after_server_stop
    async def stop(app: Any) -> None:
        await container.stop()

    tune_garbage_collector()  # in every worker process
    return app


def run_roles(settings: Settings, roles: frozenset[ProcessRole], process: str) -> int:
    """A process without HTTP: the dispatcher role, the bot role or both, until stopped."""

    from core.delivery.dispatcher import SHUTDOWN_GRACE_S

    async def work(container: Container) -> int:
        tasks = RoleTasks(container, roles, process)
        coroutines = tasks.coroutines()
        names = ",".join(role.value for role in ProcessRole if role in roles)
        if ProcessRole.BOT in roles and not tasks.polls:
            log.info("role bot: nothing to poll (no NEXTUP_TELEGRAM_TOKEN, or webhook mode)")
        log.info("running with roles %s", names)
        print(f"NextUp running: {names} (Ctrl-C stops it)", file=sys.stderr)
        running = [asyncio.create_task(c) for c in coroutines]
        try:
            if not running:
                await asyncio.Event().wait()  # an idle role: until stopped
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_EXCEPTION)
            failed = any(not t.cancelled() and t.exception() is not None for t in done)
            return 1 if failed else 0
        finally:
            await cancel_and_wait(running, SHUTDOWN_GRACE_S + 1)  # logs what failed
            await tasks.close()

    return run_until_interrupted(settings, work)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """The dispatcher role alone (NEXTUP_ROLES does not apply)."""
    return run_roles(settings, frozenset({ProcessRole.DISPATCHER}), "nextup-worker")


def cmd_bot(settings: Settings, args: argparse.Namespace) -> int:
    """The bot role alone (NEXTUP_ROLES does not apply)."""
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
    return run_roles(settings, frozenset({ProcessRole.BOT}), "nextup-bot")
