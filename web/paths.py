"""Path parameters, checked once for every route: each parameter name has a rule (its
alphabet and the length of the column it is looked up in), values are percent-decoded before
the check, and a value no rule accepts is the same 404 as an unknown one, without a lookup.

A route with a parameter that has no rule is refused when the app is built, so a new route
cannot skip the check. Websocket routes are declared through `websocket()`, which closes a
socket on an impossible path with 4404 and an error frame, as docs/live.md says.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Request, Sanic
from sanic.server.websockets.impl import WebsocketImplProtocol

from core.domain.model import QUEUE_CODE
from core.storage.errors import NotFound

WsHandler = Callable[..., Awaitable[None]]
Refuse = Callable[[WebsocketImplProtocol, str, str], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    """What a value may be once decoded (fullmatch)."""
    what: str
    """What is not found, for the error code (`queue` → `queue_not_found`)."""
    normalise: Callable[[str], str] = str

    def clean(self, raw: str) -> str | None:
        """The decoded, normalised value, or None when no such thing can exist."""
        try:
            value = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        return self.normalise(value) if self.pattern.fullmatch(value) else None


QUEUE = Rule(QUEUE_CODE, "queue", str.upper)
"""Queue codes are kept in capitals; `/display/pharm` is PHARM's display."""
RULES: dict[str, Rule] = {
    "code": QUEUE,
    "token": Rule(re.compile(r"[A-Za-z0-9_-]{1,64}"), "ticket"),
    "ticket_id": Rule(re.compile(r"[A-Za-z0-9-]{1,36}"), "ticket"),
    # Any word: the service answers an unknown action 422 with the list of known ones.
    "action": Rule(re.compile(r"[A-Za-z0-9_-]{1,32}"), "action"),
    # Sanic's static route. The folder is flat: a name, never a dot file or a folder.
    "__file_uri__": Rule(re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}"), "file"),
}


class UnruledParameter(Exception):
    """A route declares a path parameter that RULES does not know."""


def parameter_names(route_path: str) -> list[str]:
    return re.findall(r"<(\w+)", route_path)


def check_routes(app: Sanic[Any, Any]) -> None:
    """Every parameter of every route has a rule, and every websocket route with parameters
    was declared with `websocket()`; raised at start-up otherwise."""
    for route in app.router.routes:
        names = parameter_names(route.path)
        for name in names:
            if name not in RULES:
                raise UnruledParameter(
                    f"/{route.path}: the path parameter {name!r} has no rule in web/paths.py"
                )
        if names and getattr(route.handler, "is_websocket", False):
            inner = (getattr(route.handler, "args", None) or (None,))[0]  # Sanic's partial
            if not getattr(inner, "checks_path", False):
                raise UnruledParameter(f"/{route.path}: declare it with web.paths.websocket")


def refusal(request: Request) -> NotFound | None:
    """Cleans the request's path parameters in place; the NotFound to answer when one of
    them cannot exist."""
    params = request.match_info
    for name, raw in params.items():
        rule = RULES.get(name)
        value = rule.clean(raw) if rule is not None and isinstance(raw, str) else None
        if rule is None or value is None:
            shown = raw[:40] + ("…" if len(raw) > 40 else "") if isinstance(raw, str) else ""
            return NotFound(rule.what if rule else name, shown)
        params[name] = value
    return None


async def check_request(request: Request) -> None:
    """Request middleware: runs after routing, before any handler."""
    if request.route is None:
        return
    found = refusal(request)
    if found is None:
        return
    if getattr(request.route.handler, "is_websocket", False):
        request.ctx.path_refusal = found  # answered inside the socket, as the protocol says
        return
    raise found


def websocket(bp: Blueprint, path: str, refuse: Refuse) -> Callable[[WsHandler], WsHandler]:
    """`bp.websocket(path)` for a handler that never sees an impossible path: `refuse`
    answers those (an error frame, then the close code) with the not-found error code."""

    def decorate(handler: WsHandler) -> WsHandler:
        @functools.wraps(handler)
        async def guarded(request: Request, ws: WebsocketImplProtocol, **params: Any) -> None:
            found: NotFound | None = getattr(request.ctx, "path_refusal", None)
            if found is not None:
                await refuse(ws, found.code, f"no {found.code.removesuffix('_not_found')} here")
                return
            await handler(request, ws, **params)

        guarded.checks_path = True  # type: ignore[attr-defined]
        bp.add_websocket_route(guarded, path)
        return handler

    return decorate


def install(app: Sanic[Any, Any]) -> None:
    """Checks the route table when the server starts and every request's parameters."""
    app.register_middleware(check_request, "request", priority=100)
    check_routes(app)  # the routes so far; the webhooks mounted later are checked at start

    @app.before_server_start
    async def every_parameter_has_a_rule(app: Sanic[Any, Any]) -> None:
        check_routes(app)
