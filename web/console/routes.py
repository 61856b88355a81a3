"""The staff console: login, the live queue board, walk-ins, tickets and queue settings.

Actions on tickets go through the REST API (the session cookie with the CSRF token), so the
console and other programs share one code path and one audit trail. Pages here render HTML;
forms that need errors shown next to their fields post here.
"""

from __future__ import annotations

import secrets
import time as clock
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, redirect

from core.domain.errors import InvalidValue, QueueClosed, QueueClosing, QueueFull
from core.domain.model import check_priority
from core.services.accounts import Role, actor, check_password, revoke_sessions
from core.services.errors import Unauthorized
from core.services.forecasts import horizon_of
from core.services.queues import new_join_request
from core.storage import outbox
from core.storage.models import StaffAccount, TicketEventRow
from web.auth import check_csrf, session_account, signer, staff_page
from web.clients import client_address, secure_cookies
from web.console.board import PRIORITY_LABELS, load_board, priority_label
from web.console.broadcast_form import form_values
from web.console.forecast_panel import forecast_context
from web.deps import container_of
from web.scope import visible
from web.session import COOKIE, SESSION_MAX_AGE_S, LoginLimiter, equal_secrets
from web.templating import NONE, render

bp = Blueprint("console")
LOGIN_COOKIE = "nextup_login"
"""A random value the login form must echo (double submit): another site cannot log a
browser into an account of its choosing."""


def limiter(request: Request) -> LoginLimiter:
    limit: LoginLimiter = request.app.ctx.login_limiter
    return limit


def safe_next(target: str | None) -> str:
    """Only back into the console: never an open redirect to another site."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console"


def session_cookie_scope(request: Request) -> dict[str, Any]:
    """Set and deleted with the same attributes: a browser ignores a deletion sent `Secure`
    for a cookie it was given without (a plain-http intranet address)."""
    return {"path": "/", "secure": secure_cookies(request)}


def login_cookie_scope(request: Request) -> dict[str, Any]:
    return {"path": "/console/login", "secure": secure_cookies(request)}


def login_page(
    request: Request, error: str | None = None, status: int = 200, name: str = ""
) -> HTTPResponse:
    token = secrets.token_urlsafe(16)
    target = (request.form.get("next") if request.form else None) or request.args.get("next")
    page = render(
        "console/login.html", error=error, login_token=token, name=name, next=safe_next(target)
    )
    response = html(page, status=status)
    response.add_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        max_age=3600,
        **login_cookie_scope(request),
    )
    return response


@bp.get("/console/login")
async def login_form(request: Request) -> HTTPResponse:
    if await session_account(request) is not None:
        return redirect(safe_next(request.args.get("next")))
    return login_page(request)


@bp.post("/console/login")
async def login(request: Request) -> HTTPResponse:
    form: Any = request.form or {}
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    expected = request.cookies.get(LOGIN_COOKIE)
    if not equal_secrets(str(form.get("login_token") or ""), expected):
        return login_page(request, "Your login form expired; please try again.", 403, name)
    keys = [f"ip:{client_address(request)}", f"name:{name.lower()}"]
    wait_s = limiter(request).retry_after_s(keys)
    if wait_s > 0:
        minutes = max(1, round(wait_s / 60))
        response = login_page(
            request, f"Too many failed logins. Try again in {minutes} min.", 429, name
        )
        response.headers["Retry-After"] = str(int(wait_s) + 1)
        return response
    try:
        account = await check_password(name, password)
    except Unauthorized:
        limiter(request).failed(keys)
        return login_page(request, "Wrong name or password.", 401, name)
    limiter(request).succeeded(keys[1])
    response = redirect(safe_next(form.get("next")), status=303)
    set_session(request, response, account)
    response.cookies.delete_cookie(LOGIN_COOKIE, **login_cookie_scope(request))
    return response


def set_session(request: Request, response: HTTPResponse, account: StaffAccount) -> None:
    response.add_cookie(
        COOKIE,
        signer(request).issue(account, clock.time()),
        httponly=True,
        samesite="Lax",
        max_age=int(SESSION_MAX_AGE_S),
        **session_cookie_scope(request),
    )


@bp.post("/console/logout")
async def logout(request: Request) -> HTTPResponse:
    found = await session_account(request)
    if found is not None:
        check_csrf(request, found[1])
        # Every session of the account ends, here and in every process; its open websockets
        # close within seconds (the live hub re-checks them).
        await revoke_sessions(found[0].name)
    response = redirect("/console/login", status=303)
    response.cookies.delete_cookie(COOKIE, **session_cookie_scope(request))
    return response


def base_context(request: Request, account: StaffAccount, csrf: str, nav: str) -> dict[str, Any]:
    return {
        "account": account,
        "csrf": csrf,
        "nav": nav,
        "dev_inbox": container_of(request).settings.dev_inbox,
        "is_admin": account.role == "admin",
    }


@bp.get("/console")
@staff_page()
async def board_page(request: Request, account: StaffAccount, csrf: str) -> HTTPResponse:
    queues = container_of(request).queues
    all_codes = visible(account, [q.code for q in await queues.list_queues()])
    selected = (request.args.get("queue") or "").upper()
    codes = [selected] if selected in all_codes else all_codes
    boards = [await load_board(queues, code, all_codes) for code in codes]
    page = render(
        "console/board.html",
        **base_context(request, account, csrf, "board"),
        boards=boards,
        all_codes=all_codes,
        selected=selected if selected in all_codes else None,
        priorities=PRIORITY_LABELS,
        values={},
        errors={},
        added=None,
        broadcast=form_values(),
    )
    return html(page)


@bp.get("/console/queues/<code>/board")
@staff_page()
async def board_fragment(
    request: Request, code: str, account: StaffAccount, csrf: str
) -> HTTPResponse:
    queues = container_of(request).queues
    all_codes = visible(account, [q.code for q in await queues.list_queues()])
    board = await load_board(queues, code.upper(), all_codes)
    return html(
        render("console/board_panel.html", board=board, is_admin=account.role == Role.ADMIN)
    )


@bp.get("/console/queues/<code>/forecast")
@staff_page()
async def forecast_fragment(
    request: Request, code: str, account: StaffAccount, csrf: str
) -> HTTPResponse:
    status = await container_of(request).queues.status(code.upper())
    horizon = await horizon_of(status)
    context = forecast_context(horizon, status.queue.config.timezone)
    return html(render("console/forecast.html", **context))


@bp.post("/console/queues/<code>/walk-in")
@staff_page()
async def walk_in(request: Request, code: str, account: StaffAccount, csrf: str) -> HTTPResponse:
    container = container_of(request)
    info = await container.queues.get_queue(code.upper())
    form: Any = request.form or {}
    values = {key: str(form.get(key) or "").strip() for key in WALK_IN_FIELDS}
    errors: dict[str, str] = {}
    added = None
    offer_force = False
    try:
        fields = walk_in_fields(values, info.config.timezone, container.clock())
        joined = await container.queues.join(info.code, new_join_request(**fields), actor(account))
        added, values = joined.ticket, {}
    except InvalidValue as exc:
        errors[walk_in_field_of(str(exc))] = str(exc)
    except (QueueClosed, QueueClosing) as exc:
        # The patient is at the counter: staff may add them all the same, on a second press
        # with "add anyway" ticked (the joined event records it as forced).
        errors[""] = str(exc)
        offer_force = True
    except QueueFull as exc:
        errors[""] = str(exc)
    page = render(
        "console/walk_in.html",
        queue=info,
        priorities=PRIORITY_LABELS,
        values=values,
        errors=errors,
        added=added,
        offer_force=offer_force,
    )
    return html(page, status=422 if errors else 200)


WALK_IN_FIELDS = ("name", "phone", "priority", "appointment_at", "service", "force")
FIELD_NAMED_IN = {
    "phone": "phone",
    "priority": "priority",
    "appointment": "appointment_at",
    "kind of visit": "service",
}
"""Words of a domain error's message that tell which field of the form it is about."""


def walk_in_field_of(message: str) -> str:
    """The form field an error belongs next to; "" for the form as a whole."""
    return next((field for words, field in FIELD_NAMED_IN.items() if words in message), "")


def walk_in_fields(values: dict[str, str], timezone: str, now: datetime) -> dict[str, Any]:
    """The form's text as a join request: an appointment is a time of day, today, in the
    queue's time zone."""
    fields: dict[str, Any] = {
        "name": values["name"][:128] or None,
        "phone": values["phone"] or None,
        "service": values["service"] or None,
        "force": values["force"] == "1",
    }
    try:
        fields["priority"] = int(values["priority"] or 0)
    except ValueError:
        raise InvalidValue("priority must be a number from the list") from None
    check_priority(fields["priority"])
    if values["appointment_at"]:
        try:
            at = time.fromisoformat(values["appointment_at"])
        except ValueError:
            raise InvalidValue("appointment time must be like 14:30") from None
        zone = ZoneInfo(timezone)
        day = now.astimezone(zone).date()
        fields["appointment_at"] = datetime.combine(day, at, zone).astimezone(UTC)
    return fields


@bp.get("/console/tickets/<ticket_id>")
@staff_page()
async def ticket_page(
    request: Request, ticket_id: str, account: StaffAccount, csrf: str
) -> HTTPResponse:
    container = container_of(request)
    view = await container.queues.ticket_view(ticket_id)
    page = render(
        "console/ticket.html",
        **base_context(request, account, csrf, "board"),
        view=view,
        ticket=view.ticket,
        history=[describe_event(e) for e in view.history],
        notifications=await outbox.for_ticket(ticket_id),
        consents=await container.privacy.consent_record(view.ticket),
        priority_label=priority_label,
    )
    return html(page)


def describe_event(row: TicketEventRow) -> dict[str, Any]:
    """An audit line: when, who (the staff member's name, or the patient's channel), what."""
    who_kind, _, who = row.actor.partition(":")
    return {
        "at": row.at,
        "who": who if who_kind == "staff" else f"patient ({who})" if who else row.actor,
        "staff": who_kind == "staff",
        "what": what_happened(row),
        "change": f"{row.from_status or NONE} → {row.to_status}" if row.to_status else "",
        "counter": row.counter,
        "positions": positions_text(row),
    }


def what_happened(row: TicketEventRow) -> str:
    """The event's type in words; a broadcast with the words staff sent."""
    if row.type == "ticket_broadcast" and isinstance(row.data, dict) and row.data.get("text"):
        return f"message to the line: {row.data['text']}"
    return row.type.replace("_", " ")


def positions_text(row: TicketEventRow) -> str:
    """`4 → 3` for a "getting close" notice, the place alone where the ticket joined, came
    back or was called from, nothing for the rest."""
    if row.new_position is None:
        return ""
    if row.old_position is None:
        return str(row.new_position)
    return f"{row.old_position} → {row.new_position}"
