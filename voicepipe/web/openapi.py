"""The OpenAPI 3.1 document, generated from the route table and its pydantic models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from voicepipe import __version__
from voicepipe.web.api import Auth, Route
from voicepipe.web.models import Error

REF = "#/components/schemas/{model}"
REASONS = {
    400: "Bad input (a malformed body or cursor)",
    401: "No API token, or one that is not valid",
    403: "An admin account is needed",
    404: "No such thing, or not yours",
    409: "The thing's state does not allow this (or it exists already)",
    413: "The request body is too large",
    415: "The uploaded file is not in a format voicepipe takes",
    422: "A field fails validation; the message names it",
    429: "Rate limited; see the Retry-After header",
    503: "Redis or PostgreSQL is unavailable",
}


def _error_statuses(route: Route) -> list[int]:
    statuses = {503, *route.errors}
    if route.auth is not Auth.PUBLIC:
        statuses |= {401}
    if route.auth is Auth.ADMIN:
        statuses |= {403}
    if route.group is not None:
        statuses |= {429}
    if route.query is not None or route.body is not None:
        statuses |= {400, 422}
    if route.body is not None:
        statuses |= {413}
    if route.upload:
        statuses |= {400, 409, 413, 415}
    if route.path_params:
        statuses |= {404}
    return sorted(statuses)


Refs = dict[type[BaseModel], dict[str, Any]]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _parameters(route: Route, schemas: dict[str, Any], refs: Refs) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^/\\x00]+$"}}
        for name in route.path_params
    ]  # fmt: skip
    if route.query is not None:
        model = schemas[refs[route.query]["$ref"].rsplit("/", 1)[1]]
        required = set(model.get("required", []))
        for name, schema in model["properties"].items():
            param = {"name": name, "in": "query", "required": name in required, "schema": schema}
            if schema.get("type") == "array":
                param |= {"style": "form", "explode": True}
            params.append(param)
    return params


def _responses(route: Route, refs: Refs) -> dict[str, Any]:
    if route.response is not None:
        ok = {"description": "OK", **_json(refs[route.response])}
    elif route.path == "/metrics":
        ok = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    elif route.media_type is not None:
        ok = {
            "description": "OK",
            "content": {route.media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    else:
        ok = {"description": "OK", **_json({"type": "object"})}
    responses: dict[str, Any] = {str(route.status): ok}
    if route.media_type is not None:
        responses["206"] = {
            "description": "The part a Range header asked for",
            "content": ok["content"],
        }
    if route.response is not None and route.path == "/health":
        responses["503"] = {"description": "A dependency is down", **_json(refs[route.response])}
    for status in _error_statuses(route):
        responses.setdefault(str(status), {"description": REASONS[status], **_json(refs[Error])})
    if route.group is not None:
        responses["429"]["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    return responses


def _operation(route: Route, schemas: dict[str, Any], refs: Refs) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.auth.value],
        "parameters": _parameters(route, schemas, refs),
        "responses": _responses(route, refs),
    }
    if route.auth is not Auth.PUBLIC:
        operation["security"] = [{"bearer": []}]
        operation["description"] = (
            f"Needs an API token of {'an admin' if route.auth is Auth.ADMIN else 'any user'}."
        )
    if route.body is not None:
        # a body whose every field is optional may be left out (it reads as `{}`)
        required = any(f.is_required() for f in route.body.model_fields.values())
        operation["requestBody"] = {"required": required, **_json(refs[route.body])}
    if route.upload:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "title": {"type": "string"},
                        },
                    }
                }
            },
        }
    return operation


def build(routes: Sequence[Route]) -> dict[str, Any]:
    """The whole document: every route's operation, every model in components."""
    models = {m for r in routes for m in (r.query, r.body, r.response) if m is not None} | {Error}
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation" if any(m in (r.query, r.body) for r in routes) else "serialization")
             for m in sorted(models, key=lambda m: m.__name__)]  # fmt: skip
    by_mode, top = models_json_schema(modes, ref_template=REF)
    refs: Refs = {model: dict(by_mode[(model, mode)]) for model, mode in modes}
    schemas: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "voicepipe", "version": __version__,
                 "description": "Job monitoring and control. Errors are `{\"error\": {\"status\", \"message\"}}`."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }  # fmt: skip
