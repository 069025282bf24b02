"""Declarative API routes: each Route carries its method, path, handler, models, auth and limits."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from voicepipe import errors
from voicepipe.db.users import UserRow
from voicepipe.resources import Resources
from voicepipe.web.auth import RATE_GROUPS, authenticate_request, bearer_token, rate_limit
from voicepipe.web.context import resources_of

PATH_PARAM = re.compile(r"{(\w+)}")
MAX_PATH_PARAM = 200


class Auth(StrEnum):
    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True)
class Call:
    """What a handler gets: the pools, the caller, and its parsed path, query and body."""

    resources: Resources
    user: UserRow | None
    path: dict[str, str]
    query: Any = None
    body: Any = None
    request_token: str | None = None
    # the raw request, for the few handlers that stream: uploads (multipart) and file downloads
    request: web.Request | None = None

    @property
    def caller(self) -> UserRow:
        assert self.user is not None  # only public routes run without a user
        return self.user

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.role == "admin"


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One endpoint. `response` is the model of the success body; `group` its rate-limit group."""

    method: str
    path: str
    handler: Handler
    auth: Auth
    response: type[BaseModel] | None
    summary: str
    group: str | None = "read"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    upload: bool = False  # the body is multipart/form-data with file fields, read by the handler
    media_type: str | None = None  # a file download (not JSON); Range requests answer 206
    status: int = 200
    errors: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.group not in (None, *RATE_GROUPS):
            raise ValueError(f"route {self.path}: no rate-limit group {self.group!r}")

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)

    @property
    def name(self) -> str:
        return self.handler.__name__


def _query_input(model: type[BaseModel], request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in request.query:
        info = model.model_fields.get(key)
        if info is not None and get_origin(info.annotation) is list:
            values[key] = [p for v in request.query.getall(key) for p in v.split(",") if p]
        else:
            values[key] = request.query.getall(key)[-1]
    return values


def _named(exc: ValidationError, where: str) -> errors.InvalidInput:
    """A 422 naming the first failing field, e.g. `query.limit: Input should be ...`."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in (where, *first["loc"]))
    return errors.Unprocessable(f"{loc}: {first['msg']}")


async def _body(route: Route, request: web.Request, max_bytes: int) -> Any:
    assert route.body is not None
    if request.content_length is not None and request.content_length > max_bytes:
        raise errors.TooLarge(f"the request body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65_536):
        size += len(chunk)
        if size > max_bytes:  # a chunked body gives no length up front
            raise errors.TooLarge(f"the request body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return route.body.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise errors.InvalidInput(
                f"the request body is not JSON: {exc.errors()[0]['msg']}"
            ) from None
        raise _named(exc, "body") from None


async def _parse(
    route: Route, request: web.Request, resources: Resources
) -> tuple[dict[str, str], Any, Any]:
    path = {name: request.match_info[name] for name in route.path_params}
    for name, value in path.items():
        if not value or len(value) > MAX_PATH_PARAM or not _storable(value):
            raise errors.NotFound(f"no such {name}: {value[:MAX_PATH_PARAM]!r}")
    if not all(_storable(value) for value in request.query.values()):
        raise errors.InvalidInput("the query string has a NUL or a character that is not UTF-8")
    query = None
    if route.query is not None:
        try:
            query = route.query.model_validate(_query_input(route.query, request))
        except ValidationError as exc:
            raise _named(exc, "query") from None
    body = None
    if route.body is not None:
        body = await _body(route, request, resources.settings.api_max_body_bytes)
    return path, query, body


def _storable(text: str) -> bool:
    """Text PostgreSQL can hold: UTF-8 without NUL (aiohttp lets undecodable bytes through)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def render(value: Any, status: int) -> web.Response:
    text = value.model_dump_json() if isinstance(value, BaseModel) else json.dumps(value)
    return web.Response(text=text, status=status, content_type="application/json")


def endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of `route`: rate limit, authenticate, parse, call, render."""

    async def handle(request: web.Request) -> web.StreamResponse:
        resources = resources_of(request)
        if route.group is not None:
            await rate_limit(request, resources, route.group)
        user = None
        if route.auth is not Auth.PUBLIC:
            try:
                user = await authenticate_request(request, resources)
            except errors.NotAuthenticated:
                if route.group is not None and bearer_token(request) is not None:
                    # Made-up tokens each get a fresh bucket: bad ones count per IP as well.
                    await rate_limit(request, resources, route.group, by_ip=True)
                raise
            if route.auth is Auth.ADMIN and user.role != "admin":
                raise errors.PermissionDenied("this needs an admin account")
        path, query, body = await _parse(route, request, resources)
        call = Call(resources, user, path, query, body, bearer_token(request), request)
        result = await route.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        return render(result, route.status)

    handle.__name__ = route.name
    return handle
