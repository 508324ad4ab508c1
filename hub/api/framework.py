"""The JSON API's plumbing: the route table type, bearer auth, role checks, one error shape.

A ``Route`` declares everything about an endpoint once (method, path, role,
summary, query/body/response models); ``register`` adds its handler to the
app and ``hub.api.openapi`` describes it from the same object, so the
document cannot drift from what is served.

Every response under ``/api/v1`` is JSON. Errors always have the shape
``{"error": {"code", "message", "details": [{"loc", "message"}]}}``:
401 (no or bad token, with ``WWW-Authenticate: Bearer``), 403 (role),
404, 405, 409, 413 (body too large), 422 (every validation problem listed),
500 (logged, no detail).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.auth import TOKENS, Principal, Role, TokenService
from hub.errors import ConfigError, Conflict, Forbidden, NotFound
from hub.ops import OPS, Ops

if TYPE_CHECKING:
    from hub.app import Hub

__all__ = [
    "API_PREFIX",
    "PRINCIPAL",
    "ApiError",
    "Call",
    "Route",
    "api_middleware",
    "error_response",
    "register",
]

log = logging.getLogger("hub.api")

API_PREFIX = "/api/v1"
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An error answer: status, a stable ``code``, a message, and per-field details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = headers or {}

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.details, self.headers)


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [{"loc": loc, "message": msg} for loc, msg in details],
        }
    }
    return web.json_response(body, status=status, headers=headers)


def _unauthorized(message: str, invalid: bool) -> ApiError:
    challenge = 'Bearer realm="hub"' + (', error="invalid_token"' if invalid else "")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


async def _authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized(
            "send Authorization: Bearer <token> (make one with `hub tokens create`)", False
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be: Bearer <token>", True)
    principal = await request.app[TOKENS].authenticate(token.strip())
    if principal is None:
        raise _unauthorized("the token is unknown, expired or revoked", True)
    return principal


@web.middleware
async def api_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bearer auth and JSON errors for ``/api/v1`` only; every other path passes through.

    Authentication comes before routing, so an unknown API path answers 401
    to a caller without a token (it learns nothing about which paths exist).
    """
    if request.path != API_PREFIX and not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    response = await _answer(request, handler)
    # Answers are per token: no shared or browser cache may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


async def _answer(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        request[PRINCIPAL] = await _authenticate(request)
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; use {allowed}",
            headers={"Allow": allowed},
        )
    except web.HTTPNotFound:
        return error_response(
            404, "not_found", f"no API route {request.path}; see {API_PREFIX}/openapi.json"
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as handlers see it: who asks, the parsed inputs, and the hub."""

    request: web.Request
    principal: Principal
    query: BaseModel | None
    body: BaseModel | None

    @property
    def ops(self) -> Ops:
        return self.request.app[OPS]

    @property
    def hub(self) -> Hub:
        from hub.app import HUB  # hub.app mounts this package

        return self.request.app[HUB]

    @property
    def tokens(self) -> TokenService:
        return self.request.app[TOKENS]

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def q(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    def b(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint, declared once: served by ``register``, described by ``openapi_document``."""

    method: str
    path: str  # under API_PREFIX, e.g. "/connections/{name}"
    role: Role
    summary: str
    handler: Handler
    tag: str
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = field(default=())  # beyond 401/403/422 added automatically
    description: str = ""
    raw_json: bool = False  # the handler returns a JSON document served as is (openapi.json)

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")

    def error_statuses(self) -> list[int]:
        """Every status ``_wrap`` can answer with besides success (405 and 500 aside).

        422 is always possible: routes without query parameters still refuse
        unknown ones.
        """
        statuses = {401, 403, 422, *self.errors}
        if "{" in self.path:
            statuses.add(404)
        return sorted(statuses)


def _problems(exc: ValidationError, where: str) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (where, *err["loc"]))
        out.append((loc, err["msg"]))
    return out


def _config_problems(exc: ConfigError) -> list[tuple[str, str]]:
    """``ConfigError`` lines of the form ``where: message`` as error details."""
    out = []
    for line in str(exc).splitlines():
        where, sep, message = line.strip().partition(": ")
        if not sep or " " in where:
            out.append(("body", line.strip()))
        else:  # the connection's name is the path parameter; the rest is in the body
            out.append((f"path.{where}" if where == "name" else f"body.{where}", message))
    return out


async def _parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ApiError(422, "invalid", f"the body is not JSON: {exc}") from exc
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ApiError(422, "invalid", "the body is invalid", _problems(exc, "body")) from exc


def _parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """The query string as ``model``; every unknown or invalid parameter listed at once."""
    known = set(model.model_fields)
    details = [
        (f"query.{k}", "not a parameter of this route") for k in request.query if k not in known
    ]
    values = {k: v for k, v in request.query.items() if k in known}
    try:
        parsed = model.model_validate(values)
    except ValidationError as exc:
        details.extend(_problems(exc, "query"))
        parsed = None
    if details or parsed is None:
        raise ApiError(422, "invalid", "the query is invalid", details)
    return parsed


def _wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = request[PRINCIPAL]
        try:
            if not principal.allows(route.role):
                raise ApiError(
                    403,
                    "forbidden",
                    f"{route.method} {route.full_path} needs the {route.role} role; "
                    f"this token has {principal.role}",
                )
            query = _parse_query(request, route.query) if route.query else None
            if route.query is None and request.query:
                _parse_query(request, _NoQuery)
            body = await _parse_body(request, route.body) if route.body else None
            result = await route.handler(Call(request, principal, query, body))
            if route.raw_json:
                return web.json_response(result, status=route.status)
            if route.response is None:
                return web.Response(status=route.status)
            model = route.response
            doc = (
                result if isinstance(result, model) else model.model_validate(result)
            ).model_dump(mode="json")
            return web.json_response(doc, status=route.status)
        except ApiError as exc:
            return exc.response()
        except Forbidden as exc:
            return error_response(403, "forbidden", str(exc))
        except NotFound as exc:
            return error_response(404, "not_found", str(exc))
        except Conflict as exc:
            return error_response(409, "conflict", str(exc))
        except ConfigError as exc:
            return error_response(422, "invalid", "the request is invalid", _config_problems(exc))
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, "too_large", "the body is over the hub's body_limit")
        except Exception:
            log.exception("%s %s failed", route.method, route.full_path)
            return error_response(500, "internal", "the hub failed to answer; see its log")

    handle.__name__ = route.operation_id
    return handle


class _NoQuery(BaseModel):
    """Routes without query parameters reject any."""


def register(app: web.Application, routes: Sequence[Route]) -> None:
    """Add each route's handler (auth and role checks included) to ``app``'s router."""
    for route in routes:
        app.router.add_route(
            route.method, route.full_path, _wrap(route), name=f"api.{route.operation_id}"
        )
