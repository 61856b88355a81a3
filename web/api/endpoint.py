"""One decorator per API route: auth and roles, body parsing, and the OpenAPI record."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from core.services.accounts import Role, require_queue
from core.services.errors import Forbidden
from web.auth import ADMIN, ANY_STAFF, authenticate
from web.errors import BadRequest
from web.scope import check_scope

__all__ = ["ADMIN", "ANY_STAFF", "endpoint"]
Handler = Callable[..., Awaitable[HTTPResponse]]


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    roles: frozenset[Role] | None
    body: type[BaseModel] | None
    errors: dict[int, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    response: str = ""
    status: int = 200
    """Of a successful response."""


REGISTRY: list[Endpoint] = []


def parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = request.body or b"{}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(400, "malformed_json", "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "malformed_json", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        first = details[0]
        raise BadRequest(
            422, "validation_error", f"{first['field'] or 'body'}: {first['message']}", details
        ) from None


def endpoint(
    bp: Blueprint,
    method: str,
    path: str,
    summary: str,
    *,
    roles: Iterable[Role] | None = ANY_STAFF,
    body: type[BaseModel] | None = None,
    errors: dict[int, str] | None = None,
    query: dict[str, str] | None = None,
    response: str = "",
    status: int = 200,
) -> Callable[[Handler], Handler]:
    """Registers a route. A handler gets the path parameters, checked and normalised by
    web/paths.py (a queue code in capitals), and of `account` (None when public) and `body`
    the keywords it declares."""
    allowed = frozenset(roles) if roles is not None else None
    spec = Endpoint(
        method,
        (bp.url_prefix or "") + path,
        summary,
        allowed,
        body,
        errors or {},
        query or {},
        response,
        status,
    )
    REGISTRY.append(spec)

    def decorate(handler: Handler) -> Handler:
        declared = inspect.signature(handler).parameters

        @functools.wraps(handler)
        async def wrapped(request: Request, **params: Any) -> HTTPResponse:
            account = None
            if allowed is not None:
                account = await authenticate(request)
                if account.role not in allowed:
                    raise Forbidden(f"this needs the role {' or '.join(sorted(allowed))}")
            parsed = parse_body(request, body) if body is not None else None
            if account is not None:
                await check_scope(account, request, params)
                target = getattr(parsed, "queue", None)  # a transfer names a second queue
                if isinstance(target, str):
                    require_queue(account, target)
            given = {"account": account, "body": parsed}
            wanted = {name: value for name, value in given.items() if name in declared}
            return await handler(request, **wanted, **params)

        bp.add_route(wrapped, path, methods=[method], name=handler.__name__)
        return handler

    return decorate
