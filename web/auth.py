"""Who is asking: an API token, or a console session (whose unsafe requests need the CSRF
token); and the decorator that guards console pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import quote

from sanic import Request
from sanic.response import HTTPResponse, redirect

from core.services.accounts import Role, account_for_token
from core.services.errors import Forbidden, Unauthorized
from core.storage import accounts
from core.storage.models import StaffAccount
from web.scope import check_scope
from web.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionSigner,
    still_current,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANY_STAFF = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
PageHandler = Callable[..., Awaitable[HTTPResponse]]


def signer(request: Request) -> SessionSigner:
    sessions: SessionSigner = request.app.ctx.sessions
    return sessions


async def session_account(request: Request) -> tuple[StaffAccount, Session] | None:
    """The account behind the request's session cookie, if it is valid and still current."""
    if hasattr(request.ctx, "session"):
        cached: tuple[StaffAccount, Session] | None = request.ctx.session
        return cached
    found = None
    session = signer(request).read(request.cookies.get(COOKIE))
    if session is not None:
        account = await accounts.by_id(session.account_id, active_only=True)
        if account is not None and still_current(session, account):
            found = (account, session)
    request.ctx.session = found
    return found


def csrf_token_of(request: Request) -> str | None:
    """From the header (HTMX and fetch send it) or a form field (plain forms)."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return str(header)
    if request.content_type.startswith(("application/x-www-form-urlencoded", "multipart/")):
        value = request.form.get(CSRF_FIELD) if request.form else None
        return str(value) if value else None
    return None


def check_csrf(request: Request, session: Session) -> None:
    if request.method not in SAFE_METHODS and not signer(request).csrf_ok(
        session, csrf_token_of(request)
    ):
        raise Forbidden("the CSRF token is missing or wrong; reload the page and try again")


async def authenticate(request: Request) -> StaffAccount:
    """A bearer token, or else the console's session cookie (with CSRF on unsafe methods)."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send 'Authorization: Bearer <token>' (see `nextup token NAME`)")
        return await account_for_token(token.strip())
    found = await session_account(request)
    if found is None:
        raise Unauthorized("send 'Authorization: Bearer <token>' (see `nextup token NAME`)")
    account, session = found
    check_csrf(request, session)
    return account


def staff_page(roles: Iterable[Role] = ANY_STAFF) -> Callable[[PageHandler], PageHandler]:
    """A console page: without a session, off to the login page (then back); with the wrong
    role, 403; an unsafe request needs the CSRF token. The handler gets `account` and `csrf`."""
    allowed = frozenset(roles)

    def decorate(handler: PageHandler) -> PageHandler:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            found = await session_account(request)
            if found is None:
                if request.headers.get("hx-request"):
                    # A fragment can't be redirected inside the page; send the whole page.
                    return HTTPResponse(status=401, headers={"HX-Redirect": "/console/login"})
                target = request.path + (f"?{request.query_string}" if request.query_string else "")
                return redirect(f"/console/login?next={quote(target, safe='')}")
            account, session = found
            if account.role not in allowed:
                raise Forbidden(f"this page needs the role {' or '.join(sorted(allowed))}")
            check_csrf(request, session)
            await check_scope(account, request, kwargs)
            csrf = signer(request).csrf_token(session)
            return await handler(request, *args, account=account, csrf=csrf, **kwargs)

        wrapped.roles = allowed  # type: ignore[attr-defined]  # for the security tests
        return wrapped

    return decorate
