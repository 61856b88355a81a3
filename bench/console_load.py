"""Benchmark: how long the staff console's queue board takes to load in a browser, with 300
waiting tickets.

    .venv/bin/python bench/console_load.py [--tickets 300] [--loads 10]
    NEXTUP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/console_load.py

The database: a fresh SQLite file in a temporary directory, unless a PostgreSQL server is
named (--database-url, else NEXTUP_BENCH_DATABASE_URL); as for bench/notify.py that URL only
names the server, and the bench creates, migrates and drops its own database
(`test_bench_console`, see --database). Only 127.0.0.1 is ever contacted.

What runs, in this process: the real app on a free port, with one queue of --tickets waiting
patients (a mix of SMS, Telegram and no channel, some with a raised priority, their "joined"
messages queued, sent, delivered or failed), three patients at counters and one no-show.
Debian's Chromium (headless, driven by Playwright; never a downloaded browser) logs in
through the login form, loads /console once to warm up, then --loads times:

- **load**: from `page.goto("/console")` to the `load` event;
- **last row**: from the same start to the board's last waiting row being visible;
- **live refresh**: to the end of the first board refresh, which the page asks for as soon as
  its websocket is live (the board is then drawn a second time);
- the browser's own navigation timing: first byte, last byte, DOMContentLoaded, load.

Static files come from the browser's cache after the warm-up load, as for a member of staff
who reloads the page. Then the server alone: GET /console and GET of the board fragment with
httpx and the session cookie, and, called directly, the board's read (`load_board`) and its
rendering, to tell where the server's time goes. Results are printed and written to
bench/results/console_load-<backend>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for bench.*, tests.servers and tests.browser

from bench.api import busy_machine_warning, run_bench, say  # noqa: E402
from bench.notify import add_database_arguments, on_database, spread  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHROMIUM = Path(os.environ.get("NEXTUP_TEST_CHROMIUM", "/usr/bin/chromium"))
CODE = "PHARM"
COUNTERS = ["1", "2", "3", "4"]
AT_COUNTERS = 3
PASSWORD = "bench-password"
TARGET_S = 1.0
LIVE_REFRESH_TIMEOUT_S = 10.0
SETTLED = """document.addEventListener("htmx:afterSettle",
  () => { window.__nextupSettled = performance.now(); });"""
"""Run in the page before its scripts: when the first live refresh of the board has landed."""


# -- the data ---------------------------------------------------------------------------------


async def fill_queue(container: Any, tickets: int) -> dict[str, int]:
    """`tickets` waiting in a mix of channels and priorities, AT_COUNTERS at counters, one
    no-show, and delivery rows in every state the board shows."""
    from core.domain.model import QueueConfig
    from core.services.queues import new_join_request
    from core.storage.models import OutboxMessage

    queues = container.queues
    await queues.create_queue(CODE, "Pharmacy", "A", QueueConfig(), COUNTERS)
    for n in range(tickets + AT_COUNTERS + 1):
        fields: dict[str, Any] = {"name": f"Patient {n:03d}", "priority": 1 if n % 17 == 0 else 0}
        if n % 3 == 0:
            fields["phone"] = f"+1555{n:07d}"
        elif n % 3 == 1:
            fields["telegram_chat_id"] = 100_000 + n
        await queues.join(CODE, new_join_request(**fields), "staff:bench")
    called = [await queues.call_next(CODE, c, "staff:bench") for c in COUNTERS]
    await queues.ticket_action(called[-1].id, "no-show", "staff:bench")
    rows = await OutboxMessage.all().order_by("created_at")
    states = [
        ("sent", None, "sms"),
        ("sent", "delivered", "sms"),
        ("failed", None, "sms"),
        ("queued", None, "sms"),
    ]
    for k, row in enumerate(rows):
        status, provider_status, _ = states[k % len(states)]
        if status != "queued":
            await OutboxMessage.filter(id=row.id).update(
                status=status,
                provider_status=provider_status,
                last_error="bench: failed" if status == "failed" else None,
                attempts=1,
            )
    return {"outbox_rows": len(rows)}


# -- the browser ------------------------------------------------------------------------------


async def log_in(page: Any, base_url: str, name: str) -> None:
    await page.goto(f"{base_url}/console/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/console**")


MAIN_THREAD = {
    "ScriptDuration": "script_s",
    "LayoutDuration": "layout_s",
    "RecalcStyleDuration": "style_s",
    "TaskDuration": "busy_s",
}
"""Chromium's cumulative main-thread counters (DevTools Performance domain), in seconds."""


async def main_thread(cdp: Any) -> dict[str, float]:
    metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
    return {MAIN_THREAD[m["name"]]: m["value"] for m in metrics if m["name"] in MAIN_THREAD}


async def load_once(page: Any, cdp: Any, base_url: str, tickets: int) -> dict[str, float | None]:
    """One load of /console: seconds from the start of `goto` to each milestone, and the
    browser's main-thread time up to the load event."""
    loop = asyncio.get_running_loop()
    last_row = page.locator(f"#queue-{CODE} table.waiting tbody tr").nth(tickets - 1)
    began = loop.time()

    async def row_visible() -> float:
        await last_row.wait_for(state="visible")
        return loop.time() - began

    async def loaded() -> float:
        await page.wait_for_load_state("load")
        return loop.time() - began

    await page.goto(f"{base_url}/console", wait_until="commit")
    row_s, load_s = await asyncio.gather(row_visible(), loaded())
    at_load = await main_thread(cdp)  # a new document starts the counters from zero
    live_s: float | None = None
    try:
        await page.wait_for_function(
            "window.__nextupSettled !== undefined", timeout=LIVE_REFRESH_TIMEOUT_S * 1000
        )
        live_s = await page.evaluate("window.__nextupSettled") / 1000
    except Exception:  # no live refresh (a dead websocket): reported as missing
        live_s = None
    timing = await page.evaluate(
        """() => { const t = performance.getEntriesByType("navigation")[0];
                   return {first_byte: t.responseStart, last_byte: t.responseEnd,
                           dom_interactive: t.domInteractive,
                           dcl_start: t.domContentLoadedEventStart,
                           dom_content_loaded: t.domContentLoadedEventEnd,
                           load: t.loadEventEnd, bytes: t.transferSize}; }"""
    )
    rows = await page.locator(f"#queue-{CODE} table.waiting tbody tr").count()
    if rows != tickets:
        raise RuntimeError(f"the board shows {rows} waiting rows, expected {tickets}")
    return {
        "load_s": load_s,
        "last_row_s": row_s,
        "live_refresh_s": live_s,
        "first_byte_s": timing["first_byte"] / 1000,
        "last_byte_s": timing["last_byte"] / 1000,
        "dom_interactive_s": timing["dom_interactive"] / 1000,
        "dom_content_loaded_handlers_s": (timing["dom_content_loaded"] - timing["dcl_start"])
        / 1000,
        "dom_content_loaded_s": timing["dom_content_loaded"] / 1000,
        "load_event_s": timing["load"] / 1000,
        "transfer_bytes": timing["bytes"],
    } | {f"main_thread_{k}": v for k, v in at_load.items()}


async def browser_loads(base_url: str, tickets: int, loads: int) -> tuple[list[Any], Any]:
    from playwright.async_api import async_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            context.set_default_timeout(30_000)
            await context.add_init_script(SETTLED)
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            await log_in(page, base_url, "bench-admin")
            await load_once(page, cdp, base_url, tickets)  # warm-up: caches, server imports
            results = []
            for k in range(loads):
                result = await load_once(page, cdp, base_url, tickets)
                results.append(result)
                say(f"load {k + 1}/{loads}: {(result['load_s'] or 0) * 1000:.0f} ms")
            cookies = await context.cookies()
            return results, cookies
        finally:
            await browser.close()


# -- the server alone -------------------------------------------------------------------------


async def server_times(
    container: Any, base_url: str, cookies: list[Any], loads: int
) -> dict[str, Any]:
    import httpx

    from web.console.board import board_context, load_board
    from web.templating import render

    jar = httpx.Cookies()
    for cookie in cookies:
        jar.set(cookie["name"], cookie["value"])
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, cookies=jar, timeout=30) as client:
        for label, path in (
            ("get_console", "/console"),
            ("get_board_fragment", f"/console/queues/{CODE}/board"),
        ):
            times, size = [], 0
            for _ in range(loads):
                began = time.perf_counter()
                response = await client.get(path)
                times.append(time.perf_counter() - began)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: {response.status_code}")
                size = len(response.content)
            out[label] = spread(times) | {"bytes": size}
    reads, renders, statuses = [], [], []
    all_codes = [q.code for q in await container.queues.list_queues()]
    for _ in range(loads):
        began = time.perf_counter()
        await container.queues.status(CODE)
        statuses.append(time.perf_counter() - began)
        began = time.perf_counter()
        board = await load_board(container.queues, CODE, all_codes)
        reads.append(time.perf_counter() - began)
        began = time.perf_counter()
        render("console/board_panel.html", **board_context(board), is_admin=True)
        renders.append(time.perf_counter() - began)
    out["status_read"] = spread(statuses)
    out["load_board"] = spread(reads)
    out["render_board_panel"] = spread(renders)
    return out


# -- the run ----------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    return await on_database(args, lambda db: run(args, db))


async def run(args: argparse.Namespace, db: Any) -> dict[str, Any]:
    from core.services import accounts
    from core.settings import load_settings
    from nextup.wiring import build_container
    from tests.servers import serve, shut
    from web.app import create_app

    settings = load_settings(database_url=db.url, secret_key="bench-console", env="development")
    container = build_container(settings)
    await container.start(migrate=True)
    server = None
    try:
        say(f"filling the queue with {args.tickets} waiting tickets")
        filled = await fill_queue(container, args.tickets)
        await accounts.create_account("bench-admin", "admin", PASSWORD)
        gc.collect()
        app = create_app(container, name="bench-console")
        for name in ("sanic.root", "sanic.server", "sanic.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # Every reload drops the previous page's websocket, and Sanic logs the OSError of its
        # half-close on the dead socket as an error with a traceback: harmless, and noise here.
        logging.getLogger("sanic.websockets").setLevel(logging.CRITICAL)
        server, base_url = await serve(app)
        load_before = os.getloadavg()[0]
        say(f"{args.loads} loads of /console in Chromium")
        loads, cookies = await browser_loads(base_url, args.tickets, args.loads)
        say("the server alone")
        server_side = await server_times(container, base_url, cookies, args.loads)
    finally:
        if server is not None:
            await shut(server)
        await container.stop()

    def pick(key: str) -> dict[str, Any]:
        values = [r[key] for r in loads if r[key] is not None]
        return spread(values) | {"missing": len(loads) - len(values)}

    browser = {
        key: pick(key)
        for key in (
            "load_s",
            "last_row_s",
            "live_refresh_s",
            "first_byte_s",
            "last_byte_s",
            "dom_interactive_s",
            "dom_content_loaded_handlers_s",
            "dom_content_loaded_s",
            "load_event_s",
            *(f"main_thread_{k}" for k in MAIN_THREAD.values()),
        )
    }
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "tickets": args.tickets,
            "at_counters": AT_COUNTERS,
            "loads": args.loads,
            "database": db.kind,
            "cpus": os.cpu_count(),
            "load_average_before": round(load_before, 2),
        }
        | filled,
        "browser": browser,
        "html_transfer_bytes": loads[-1]["transfer_bytes"] if loads else None,
        "server": server_side,
        "loads": loads,
    }
    result["verdict"] = {
        "load_under_1s": browser["load_s"]["max_ms"] < TARGET_S * 1000,
        "last_row_under_1s": browser["last_row_s"]["max_ms"] < TARGET_S * 1000,
    }
    return result


# -- output -----------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    s, b, srv, v = result["settings"], result["browser"], result["server"], result["verdict"]

    def line(label: str, f: dict[str, Any], extra: str = "") -> str:
        missing = f" ({f['missing']} missing)" if f.get("missing") else ""
        return (
            f"{label:<34} p50 {f['p50_ms']:>7.1f} ms   max {f['max_ms']:>7.1f} ms{extra}{missing}"
        )

    def passed(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines = [
        f"NextUp console load: {s['tickets']} waiting, {s['at_counters']} at counters, "
        f"{s['outbox_rows']} delivery rows; {s['database']}; {s['loads']} loads in headless "
        f"Chromium; {s['cpus']} CPUs",
        "",
        "browser, from page.goto:",
        line("  load event", b["load_s"]),
        line("  last waiting row visible", b["last_row_s"]),
        line("  first live refresh swapped in", b["live_refresh_s"]),
        "browser's navigation timing:",
        line("  first byte", b["first_byte_s"]),
        line("  last byte", b["last_byte_s"], f"   ({result['html_transfer_bytes']} bytes)"),
        line("  DOM interactive (HTML parsed)", b["dom_interactive_s"]),
        line("  DOMContentLoaded handlers", b["dom_content_loaded_handlers_s"]),
        line("  DOMContentLoaded end", b["dom_content_loaded_s"]),
        line("  load event end", b["load_event_s"]),
        "browser main thread until the load event:",
        line("  busy", b["main_thread_busy_s"]),
        line("  script", b["main_thread_script_s"]),
        line("  style recalculation", b["main_thread_style_s"]),
        line("  layout", b["main_thread_layout_s"]),
        "server alone:",
        line("  GET /console (httpx)", srv["get_console"], f"   ({srv['get_console']['bytes']} B)"),
        line(
            "  GET board fragment (httpx)",
            srv["get_board_fragment"],
            f"   ({srv['get_board_fragment']['bytes']} B)",
        ),
        line("  status read", srv["status_read"]),
        line("  load_board (every query)", srv["load_board"]),
        line("  render board_panel.html", srv["render_board_panel"]),
    ]
    lines += busy_machine_warning(s, measures="times")
    lines += [
        "",
        f"[{passed(v['load_under_1s'])}] every load under {TARGET_S:g} s: max "
        f"{b['load_s']['max_ms']:.1f} ms",
        f"[{passed(v['last_row_under_1s'])}] every last row under {TARGET_S:g} s: max "
        f"{b['last_row_s']['max_ms']:.1f} ms",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=300, help="waiting tickets on the board")
    parser.add_argument("--loads", type=int, default=10, help="measured loads of /console")
    add_database_arguments(parser, "test_bench_console")
    parser.add_argument("--json", type=Path, help="default: bench/results/console_load-<db>.json")
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.loads < 1:
        parser.error("need --tickets >= 1 and --loads >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"bench: {CHROMIUM} is missing (apt-get install chromium)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_bench(
        bench(args),
        report,
        lambda result: args.json or RESULTS / f"console_load-{result['settings']['database']}.json",
    )


if __name__ == "__main__":
    sys.exit(main())
