"""`/openapi.json` built from the route registry and the pydantic bodies, and `/docs`,
a page rendered here (no CDN: hospital networks are often closed)."""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, json

from core.services.accounts import Role
from web import paths
from web.api.endpoint import REGISTRY, Endpoint
from web.templating import render

bp = Blueprint("docs")
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"description": "what the error is about, when it says more"},
            },
            "required": ["code", "message"],
        }
    },
}


QUEUE_SCOPE = (
    ". Staff and pharmacists reach only the queues assigned to their account (admins: all);"
    " another queue, or a ticket of one, is 404 like one that does not exist."
    " Ticket responses carry no patient-page token."
)


def openapi_path(path: str) -> str:
    return re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", path)


def operation(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": ep.summary,
        "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower())}",
        "parameters": [path_parameter(p) for p in paths.parameter_names(ep.path)]
        + [
            {"name": q, "in": "query", "description": d, "schema": {"type": "string"}}
            for q, d in ep.query.items()
        ],
        "responses": {
            str(ep.status): {"description": ep.response or "OK"},
            "400": {"description": "malformed_json, bad_request", "content": _error_content()},
            **{
                str(status): {"description": codes, "content": _error_content()}
                for status, codes in ep.errors.items()
            },
        },
    }
    if paths.parameter_names(ep.path) and "404" not in op["responses"]:
        # A path parameter no route could take is answered as an unknown one (web/paths.py).
        op["responses"]["404"] = {"description": "not_found", "content": _error_content()}
    if ep.roles is not None:
        op["security"] = [{"bearer": []}]
        scoped = ep.roles != {Role.ADMIN}  # admins work on every queue
        op["description"] = (
            "Roles: " + ", ".join(sorted(ep.roles)) + (QUEUE_SCOPE if scoped else "")
        )
        op["responses"]["401"] = {
            "description": "unauthorized (no token, or an unknown, expired or revoked one)",
            "content": _error_content(),
        }
        op["responses"]["403"] = {"description": "forbidden", "content": _error_content()}
    if ep.body is not None:
        schema = ep.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[ep.body.__name__] = schema
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{ep.body.__name__}"}}
            },
        }
    return op


def path_parameter(name: str) -> dict[str, Any]:
    """As web/paths.py checks it: the pattern of the column it is looked up in."""
    rule = paths.RULES[name]
    schema = {"type": "string", "pattern": f"^{rule.pattern.pattern}$"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def build_spec() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in REGISTRY:
        paths.setdefault(openapi_path(ep.path), {})[ep.method.lower()] = operation(ep, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "NextUp API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
async def openapi(request: Request) -> HTTPResponse:
    return json(build_spec())


@bp.get("/docs")
async def docs(request: Request) -> HTTPResponse:
    spec = build_spec()
    return html(render("docs.html", spec=spec))
