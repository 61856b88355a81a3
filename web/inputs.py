"""Text from query strings and forms, checked once where it enters: NUL (which PostgreSQL
cannot store in text) and unpaired surrogates (which no encoding can write) are refused with
a 400 before any handler, so no lookup or write ever sees them. JSON bodies are checked by
their schemas (web/api/schemas.py), paths by web/paths.py."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import BadRequest

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _texts(fields: Any) -> Iterable[str]:
    for name, values in (fields or {}).items():
        yield name
        yield from (v for v in values if isinstance(v, str))


async def check_text(request: Request) -> None:
    """Request middleware."""
    texts = list(_texts(request.args))
    kind = request.content_type
    if kind.startswith(FORMS[0]) or (kind.startswith(FORMS[1]) and "boundary=" in kind):
        texts += _texts(request.form)  # (Sanic logs a traceback for multipart without one)
    if any(unstorable(t) for t in texts):
        raise BadRequest("text fields must not contain NUL characters or unpaired surrogates")


def install(app: Sanic[Any, Any]) -> None:
    app.register_middleware(check_text, "request", priority=90)
