"""The `nextup` command line."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import getpass
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from core.domain.errors import DomainError, InvalidValue
from core.domain.model import QueueConfig, QueueMode
from core.services import accounts
from core.services.errors import AlreadyExists
from core.services.queues import new_join_request
from core.settings import Settings, SettingsError, load_settings
from nextup.wiring import Container, build_container
from sim.cli import add_arguments as add_simulate_arguments

log = logging.getLogger(__name__)
DemoQueue = tuple[str, str, str, QueueMode, int, list[str], dict[str, int]]
DEMO_QUEUES: tuple[DemoQueue, ...] = (
    (
        "PHARM",
        "Pharmacy",
        "A",
        QueueMode.DYNAMIC,
        60,
        ["1", "2", "3"],
        {"pickup": 120, "consultation": 600},
    ),
    ("LAB", "Blood tests", "L", QueueMode.FIFO, 40, ["1", "2"], {}),
)
"""Code, name, prefix, mode, capacity, counters, and kinds of visit with their seconds."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()
    freeze_long_lived_objects()
    try:
        settings = load_settings()
        result: int = args.run(settings, args)
        return result
    except SettingsError as exc:
        print(f"nextup: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"nextup: {exc}", file=sys.stderr)
        return 1
    except (OSError, ConnectionError) as exc:
        print(f"nextup: cannot reach a service: {exc}", file=sys.stderr)
        return 1


def freeze_long_lived_objects() -> None:
    """What the imports made (aiogram's and pydantic's models: some 240,000 objects) lives
    as long as the process, so the garbage collector need not walk it again. Without this,
    interpreter exit alone took 2 to 9 s under CPU load, and `serve` missed its deadline
    for stopping after SIGTERM; every full collection while serving is shorter too."""
    gc.freeze()


def configure_logging() -> None:
    """Our own loggers only: Sanic configures and prints its own, and a root handler
    would print every Sanic line twice."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("nextup", "core", "web", "bot", "sms"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("twilio").setLevel(logging.WARNING)  # it logs every request at INFO


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nextup", description="NextUp patient queues")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="the web app, API and websockets")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="apply schema migrations").set_defaults(run=cmd_migrate)

    user = sub.add_parser("createuser", help="create a staff account")
    user.add_argument("name")
    user.add_argument("--role", required=True, choices=[r.value for r in accounts.Role])
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user.add_argument(
        "--queues",
        default="",
        help="queue codes the account works on, e.g. PHARM,LAB ('*': every queue; admins "
        "always have every queue)",
    )
    user.set_defaults(run=cmd_createuser)

    passwd = sub.add_parser("passwd", help="set a new password for a staff account")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    passwd.set_defaults(run=cmd_passwd)

    assign = sub.add_parser("queues", help="set the queues a staff account works on")
    assign.add_argument("name")
    assign.add_argument("codes", help="e.g. PHARM,LAB; '*' for every queue; '' for none")
    assign.set_defaults(run=cmd_queues)

    token = sub.add_parser(
        "token",
        help="API tokens: `token NAME [--expires-days N]` prints a new one, `token list`, "
        "`token revoke ID`",
    )
    token.add_argument("words", nargs="+", metavar="NAME | list | revoke ID")
    token.add_argument("--expires-days", type=int, help="the token stops working after N days")
    token.set_defaults(run=cmd_token)

    sub.add_parser("worker", help="the notification dispatcher alone").set_defaults(run=cmd_worker)
    sub.add_parser("bot", help="Telegram long polling alone").set_defaults(run=cmd_bot)

    link = sub.add_parser("link-code", help="a one-time code to link a Telegram chat")
    link.add_argument("name")
    link.set_defaults(run=cmd_link_code)

    simulate = sub.add_parser(
        "simulate", help="simulate working days through the queue engine, per policy"
    )
    add_simulate_arguments(simulate)
    sub.add_parser("demo", help="demo queues, counters and an admin account").set_defaults(
        run=cmd_demo
    )
    return parser


def with_database(settings: Settings, work: Callable[[Container], Awaitable[int]]) -> int:
    async def run() -> int:
        container = build_container(settings)
        await container.start()
        try:
            return await work(container)
        finally:
            await container.stop()

    return asyncio.run(run())


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from core.storage import db

    asyncio.run(db.migrate(settings.database_url))
    print("migrations applied")
    return 0


def new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password for `createuser` and `passwd`: from stdin with --password-stdin, typed
    twice on a terminal, else generated; and whether it was generated (then it is printed)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            raise InvalidValue("the passwords differ")
        return password, False
    return secrets.token_urlsafe(12), True


def cmd_createuser(settings: Settings, args: argparse.Namespace) -> int:
    password, generated = new_password(args)

    async def work(container: Container) -> int:
        account = await accounts.create_account(
            args.name, args.role, password, split_codes(args.queues)
        )
        print(f"created {args.role} {args.name}, queues: {describe_queues(account)}")
        if generated:
            print(f"password: {password}")
        return 0

    return with_database(settings, work)


def cmd_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password, generated = new_password(args)

    async def work(container: Container) -> int:
        await accounts.set_password(args.name, password)
        print(f"new password for {args.name}; their console sessions have ended")
        if generated:
            print(f"password: {password}")
        return 0

    return with_database(settings, work)


def split_codes(text: str) -> list[str]:
    return [code for code in text.split(",") if code.strip()]


def describe_queues(account: Any) -> str:
    if account.role == accounts.Role.ADMIN or accounts.ALL_QUEUES in account.queues:
        return "every queue"
    return ", ".join(account.queues) or "none yet (nextup queues NAME PHARM,LAB)"


def cmd_queues(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        account = await accounts.assign_queues(args.name, split_codes(args.codes))
        print(f"{account.name} works on: {describe_queues(account)}")
        return 0

    return with_database(settings, work)


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    words: list[str] = args.words
    if words[0] == "list" and len(words) == 1:
        return with_database(settings, list_tokens)
    if words[0] == "revoke" and len(words) == 2 and words[1].isdigit():
        token_id = int(words[1])

        async def revoke(container: Container) -> int:
            await accounts.revoke_token(token_id)
            print(f"token {token_id} revoked")
            return 0

        return with_database(settings, revoke)
    if len(words) != 1:
        print("nextup: use `token NAME`, `token list` or `token revoke ID`", file=sys.stderr)
        return 2

    async def issue(container: Container) -> int:
        print(await accounts.issue_token(words[0], args.expires_days, container.clock()))
        return 0

    return with_database(settings, issue)


async def list_tokens(container: Container) -> int:
    now = container.clock()
    print(f"{'ID':>5}  {'ACCOUNT':<20} {'CREATED':<17} {'EXPIRES':<17} {'LAST USED':<17} STATE")
    for t in await accounts.list_tokens():
        state = (
            "revoked"
            if t.revoked
            else "expired"
            if t.expires_at is not None and t.expires_at <= now
            else "active"
        )
        print(
            f"{t.id:>5}  {t.account:<20} {minute(t.created_at):<17} {minute(t.expires_at):<17} "
            f"{minute(t.last_used_at):<17} {state}"
        )
    return 0


def minute(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "-"


def cmd_link_code(settings: Settings, args: argparse.Namespace) -> int:
    from core.services.staff_chat import LINK_CODE_TTL, issue_link_code

    async def work(container: Container) -> int:
        code = await issue_link_code(args.name, container.clock())
        minutes = int(LINK_CODE_TTL.total_seconds() // 60)
        print(code)
        print(f"send /link {code} to the bot within {minutes} minutes", file=sys.stderr)
        return 0

    return with_database(settings, work)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        dispatcher = container.notification_dispatcher()
        print("NextUp notification dispatcher running (Ctrl-C stops it)", file=sys.stderr)
        try:
            await dispatcher.run()
        finally:
            await dispatcher.close()
        return 0

    return run_until_interrupted(settings, work)


def cmd_bot(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import run_polling
    from core.settings import TelegramMode

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


def run_until_interrupted(
    settings: Settings, work: Callable[[Container], Coroutine[Any, Any, int]]
) -> int:
    """Long-running commands: SIGTERM and Ctrl-C stop them cleanly with exit status 0."""
    import signal

    async def main() -> int:
        container = build_container(settings)
        await container.start()
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


DEMO_PATIENTS = (
    ("Ana Lima", 0, "consultation"),
    ("Bo Chen", 0, "pickup"),
    ("Cy Okafor", 1, "pickup"),
    ("Di Rossi", 0, None),
    ("Ed Novak", 2, "consultation"),
)
"""Names make the console look like a real morning. No phones: the demo sends no texts until
someone joins (SQLite takes one writer at a time, and `worker` and `bot` may share it)."""


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        for code, name, prefix, mode, capacity, counters, service_times_s in DEMO_QUEUES:
            config = QueueConfig(mode=mode, capacity=capacity, service_times_s=service_times_s)
            try:
                await container.queues.create_queue(code, name, prefix, config, counters)
                print(f"queue {code} ({name}), counters {', '.join(counters)}")
            except AlreadyExists:
                print(f"queue {code} already exists")
        status = await container.queues.status("PHARM")
        if status.queue.size() == 0:
            for name, priority, service in DEMO_PATIENTS:
                request = new_join_request(name=name, priority=priority, service=service)
                await container.queues.join("PHARM", request, "demo")
            print("5 demo patients waiting in PHARM")
        password = secrets.token_urlsafe(12)
        try:
            await accounts.create_account("admin", accounts.Role.ADMIN.value, password)
            print(f"admin account: admin / {password}")
        except AlreadyExists:
            print("admin account already exists: `nextup passwd admin` sets a new password")
        print(f"API token for admin: {await accounts.issue_token('admin')}")
        return 0

    return with_database(settings, work)


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
    so do the background tasks: the no-show sweep, the notification dispatcher and, in one
    process with polling, the Telegram bot (several processes would fight over updates).
    Twilio's webhooks are mounted when the SMS channel has credentials."""
    from bot.app import register_webhook, run_polling
    from bot.webhook import webhook_blueprint
    from core.delivery.dispatcher import SHUTDOWN_GRACE_S
    from core.services.housekeeping import sweep_no_shows_forever
    from core.settings import TelegramMode
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
        tasks = [sweep_no_shows_forever(container.queues), dispatcher.run()]
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

    freeze_long_lived_objects()  # the web app's imports, in every worker process
    return app
