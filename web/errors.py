"""Maps errors to the contract's shape: `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, html, json

from core.domain.errors import (
    CounterBusy,
    DomainError,
    IllegalTransition,
    InvalidValue,
    QueueClosed,
    QueueClosing,
    QueueEmpty,
    QueueFull,
    TicketNotInQueue,
    UnknownCounter,
)
from core.redact import redact
from core.services.errors import Forbidden, Unauthorized
from core.storage.errors import AlreadyExists, ConcurrentUpdate, NotFound
from web.templating import render

log = logging.getLogger(__name__)

STATUS_OF: dict[type[DomainError], int] = {
    InvalidValue: 422,
    UnknownCounter: 422,
    QueueFull: 409,
    QueueClosed: 409,
    QueueClosing: 409,
    QueueEmpty: 409,
    IllegalTransition: 409,
    CounterBusy: 409,
    AlreadyExists: 409,
    ConcurrentUpdate: 409,
    NotFound: 404,
    TicketNotInQueue: 404,
    Unauthorized: 401,
    Forbidden: 403,
}


def status_of(error: DomainError) -> int:
    """The HTTP status of a service or domain error: its class's, or its nearest base's."""
    return next((s for t, s in STATUS_OF.items() if isinstance(error, t)), 400)


class BadRequest(Exception):
    """Input the API cannot read: malformed JSON, wrong types, missing fields."""

    def __init__(self, status: int, code: str, message: str, details: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


def error_response(status: int, code: str, message: str, details: object = None) -> HTTPResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json({"error": body}, status=status, headers=headers)


def wants_html(request: Request) -> bool:
    """A person's browser asking for a page (not the API, not an HTMX fragment)."""
    return (
        not request.path.startswith(("/api/", "/hooks/"))
        and "text/html" in request.headers.get("accept", "")
        and not request.headers.get("hx-request")
    )


def page_or_json(
    request: Request, status: int, code: str, message: str, details: object = None
) -> HTTPResponse:
    if wants_html(request):
        return html(render("error.html", status=status, message=message), status=status)
    return error_response(status, code, message, details)


def install(app: Sanic[Any, Any]) -> None:
    @app.exception(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> HTTPResponse:
        return page_or_json(request, status_of(exc), exc.code, str(exc), exc.details())

    @app.exception(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> HTTPResponse:
        return error_response(exc.status, exc.code, str(exc), exc.details)

    @app.exception(SanicException)
    async def http_error(request: Request, exc: SanicException) -> HTTPResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "bad_request"
        )
        return page_or_json(request, exc.status_code, code, str(exc) or code.replace("_", " "))

    @app.exception(RecursionError)
    async def nested_too_deeply(request: Request, exc: RecursionError) -> HTTPResponse:
        # Only input nests without bound (JSON a webhook reads itself, say): a client's error.
        log.warning("input nested too deeply on %s %s", request.method, request.path)
        return page_or_json(request, 400, "malformed_json", "the body is nested too deeply")

    @app.exception(Exception)
    async def unexpected(request: Request, exc: Exception) -> HTTPResponse:
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return page_or_json(request, 500, "internal_error", "something went wrong on our side")
