"""Who may see and do what on the dashboard: sessions in, roles and CSRF checked, cookie out.

Every dashboard handler is wrapped by ``page(role)``; nothing reaches a
handler unless

- the browser has a session (one is started for anonymous visitors too),
- a POST carries the session's CSRF token (form field ``csrf_token``) and,
  when the browser says where it comes from (``Origin``, else ``Referer``),
  comes from this host (the request's ``Host`` or ``public_url``'s),
- the logged-in principal's role allows the page (viewers are sent to a 403
  page for anything that changes state, whatever the form they forged).

A session's principal is re-checked while it is used: a token revoked or
expired (or given another role) ends its dashboard sessions within
``TOKEN_RECHECK`` seconds, and a user removed from hub.yaml at the next
request. Other modules (``hub.web.oauth``) use ``current_principal`` and
``page`` the same way.
"""

from __future__ import annotations

import hmac
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from hub.auth import ADMIN_PASSWORD_ENV, TOKENS, Principal, Role, TokenInfo, TokenService
from hub.errors import ConfigError, Forbidden, NotFound
from hub.secrets import load_master_key
from hub.web.render import html, page_context
from hub.web.session import COOKIE, Session, SessionCodec
from hub.web.stats import OverviewStats

if TYPE_CHECKING:
    from hub.app import Hub

__all__ = [
    "CSRF_FIELD",
    "DASHBOARD",
    "Dashboard",
    "LoginThrottle",
    "act",
    "current_principal",
    "local_target",
    "page",
    "principal_of",
    "render",
    "session_of",
    "tokens_of",
]

CSRF_FIELD = "csrf_token"
TOKEN_RECHECK = 30.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SESSION: web.RequestKey[Session] = web.RequestKey("hub.web.session", Session)
_PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("hub.web.principal", object)  # type: ignore[arg-type]

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class LoginThrottle:
    """At most ``limit`` failed sign-ins per client address in ``window`` seconds."""

    limit: int = 10
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, who: str) -> float:
        """Seconds until ``who`` may try again (0: now)."""
        recent = self._recent(who)
        return 0.0 if len(recent) < self.limit else self.window - (time.monotonic() - recent[0])

    def failed(self, who: str) -> None:
        self._recent(who).append(time.monotonic())

    def succeeded(self, who: str) -> None:
        self._failures.pop(who, None)

    def _recent(self, who: str) -> deque[float]:
        now = time.monotonic()
        recent = self._failures.setdefault(who, deque())
        while recent and now - recent[0] > self.window:
            recent.popleft()
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            self._failures = {k: v for k, v in self._failures.items() if v}
        return recent


@dataclass
class Dashboard:
    """The dashboard's per-app state: templates, the cookie codec, recent token checks."""

    hub: Hub
    templates: jinja2.Environment
    tokens: TokenService
    stats: OverviewStats
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    #: Token name -> (when it was looked up, what the store said): sessions re-check every 30 s.
    token_checks: dict[str, tuple[float, TokenInfo | None]] = field(default_factory=dict)
    _codec: SessionCodec | None = None

    @property
    def codec(self) -> SessionCodec:
        """Built on first use: the master key exists once the hub has started."""
        if self._codec is None:
            config = self.hub.config
            key = load_master_key(config.path(config.data_dir) / "secret.key")
            self._codec = SessionCodec(key)
        return self._codec


DASHBOARD: web.AppKey[Dashboard] = web.AppKey("hub.web.dashboard", Dashboard)


def session_of(request: web.Request) -> Session:
    """The request's session, read from its cookie once (a fresh anonymous one if none is valid)."""
    try:
        return request[_SESSION]
    except KeyError:
        pass
    raw = request.cookies.get(COOKIE)
    loaded = request.app[DASHBOARD].codec.loads(raw) if raw else None
    session = loaded or Session.fresh()
    request[_SESSION] = session
    return session


async def current_principal(request: web.Request) -> Principal | None:
    """Who is logged in on this request, re-checked against the tokens and hub.yaml; or None."""
    try:
        return request[_PRINCIPAL]
    except KeyError:
        pass
    session = session_of(request)
    who = session.principal
    if who is not None:
        checked = await _still_valid(request, who)
        if checked is None:
            session.logout()
            session.flash("info", "Your session ended: sign in again.")
        who = checked
    request[_PRINCIPAL] = who
    return who


async def _still_valid(request: web.Request, who: Principal) -> Principal | None:
    """``who`` as it stands now (its role may have changed), or None when it is no longer valid."""
    dash = request.app[DASHBOARD]
    if who.via == "password":
        user = dash.hub.config.dashboard.users.get(who.name)
        if user is not None:
            return Principal(who.name, Role(user.role), "password")
        bootstrap = who.name == "admin" and bool(os.environ.get(ADMIN_PASSWORD_ENV))
        return who if bootstrap else None
    now = time.monotonic()
    cached = dash.token_checks.get(who.name)
    if cached is None or now - cached[0] > TOKEN_RECHECK:
        cached = (now, await tokens_of(request).get(who.name))
        dash.token_checks[who.name] = cached
    info = cached[1]
    if info is None or info.status() != "active":
        return None
    return Principal(info.name, info.role, "token")


def tokens_of(request: web.Request) -> TokenService:
    """The app's ``TokenService`` (``hub.auth.TOKENS``), or the dashboard's own over the same store."""
    return request.app.get(TOKENS) or request.app[DASHBOARD].tokens


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """Render ``template`` with the page context (principal, CSRF token, flashes) and ``context``."""
    session = session_of(request)
    principal = request.get(_PRINCIPAL)
    base = page_context(principal, session.csrf, session.pop_flashes(), request.path)
    return html(request.app[DASHBOARD].templates, template, {**base, **context}, status)


def page(needed: Role | None = Role.VIEWER) -> Callable[[Handler], Handler]:
    """Wrap a dashboard handler: session, CSRF and origin on POST, role, security headers, cookie.

    ``needed=None`` is for pages anyone may open (the login page).
    """

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = session_of(request)
            try:
                response = await _guarded(request, handler, needed, session)
            except NotFound as exc:
                response = render(
                    request, "error.html", status=404, title="Not found", message=str(exc)
                )
            except web.HTTPException as exc:
                _finish(request, exc, session)
                raise
            _finish(request, response, session)
            return response

        return guarded

    return wrap


async def _guarded(
    request: web.Request, handler: Handler, needed: Role | None, session: Session
) -> web.StreamResponse:
    if request.method == "POST":
        problem = await _post_problem(request, session)
        if problem is not None:
            request[_PRINCIPAL] = await current_principal(request)
            return render(request, "error.html", status=403, title="Refused", message=problem)
    who = await current_principal(request)
    if needed is not None:
        if who is None:
            target = request.path_qs if request.method == "GET" else "/"
            raise web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")
        if not who.allows(needed):
            return render(
                request,
                "error.html",
                status=403,
                title="Not allowed",
                message=(
                    f"Signed in as {who.name} ({who.role.value}); this needs the "
                    f"{needed.value} role. Ask an admin for a token with that role."
                ),
            )
    return await handler(request)


async def _post_problem(request: web.Request, session: Session) -> str | None:
    """Why a POST must be refused (cross-site, or no valid CSRF token), or None."""
    claimed = request.headers.get("Origin") or request.headers.get("Referer")
    if claimed and claimed != "null":
        if urlsplit(claimed).netloc.lower() not in _own_hosts(request):
            return "This form was sent from another site; the request was not carried out."
    elif claimed == "null":
        return "This form was sent from an opaque origin; the request was not carried out."
    form = await request.post()
    sent = form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        return (
            "The form's security token is missing or out of date (it changes when you sign "
            "in or out). Go back, reload the page and try again."
        )
    return None


def _public_url(request: web.Request) -> str | None:
    return request.app[DASHBOARD].hub.config.public_url


def _own_hosts(request: web.Request) -> set[str]:
    """The host the browser asked for, and ``public_url``'s (behind a proxy that rewrites Host)."""
    hosts = {request.host.lower()}
    public = _public_url(request)
    if public:
        hosts.add(urlsplit(public).netloc.lower())
    return hosts


def _finish(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if session.dirty:
        codec = request.app[DASHBOARD].codec
        response.set_cookie(
            COOKIE,
            codec.dumps(session),
            max_age=int(codec.max_age.total_seconds()),
            path="/",
            httponly=True,
            samesite="Lax",
            # Behind a proxy that ends TLS the hub sees http; public_url says what browsers see.
            secure=request.secure or (_public_url(request) or "").startswith("https://"),
        )


def local_target(raw: object, default: str = "/") -> str:
    """``raw`` if it is a path on this site, else ``default`` (``next=``, ``back=``).

    Browsers read ``/\\evil.example`` as ``//evil.example`` and drop tabs and
    newlines inside URLs (so ``/<TAB>/evil.example`` too): a target must start
    with a single ``/``, hold no backslash and no control character, and parse
    with neither a scheme nor a host.
    """
    if not isinstance(raw, str) or not raw.startswith("/") or raw.startswith("//"):
        return default
    if "\\" in raw or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return default
    return raw


def principal_of(request: web.Request) -> Principal:
    """The principal ``page`` checked for this request (handlers of pages that need a role)."""
    who: Principal | None = request.get(_PRINCIPAL)
    if who is None:
        raise web.HTTPSeeOther("/login")
    return who


async def act(
    request: web.Request,
    action: Awaitable[Any],
    back: str,
    done: str | Callable[[Any], str | tuple[str, str]],
) -> web.StreamResponse:
    """Run one ``Ops`` change for a form post and redirect to ``back`` with a flash.

    ``done`` is the flash text, or makes it (or ``(kind, text)``) from the result.
    ``Forbidden`` (the role check inside ``Ops``) is a 403 page; ``ConfigError``
    and ``NotFound`` (what was asked makes no sense) come back as an error
    flash on ``back``, in the words ``Ops`` chose.
    """
    session = session_of(request)
    try:
        result = await action
    except Forbidden as exc:
        return render(request, "error.html", status=403, title="Not allowed", message=str(exc))
    except (ConfigError, NotFound) as exc:
        session.flash("error", str(exc).strip("'\""))
    else:
        said = done(result) if callable(done) else done
        kind, text = said if isinstance(said, tuple) else ("ok", said)
        session.flash(kind, text)
    raise web.HTTPSeeOther(back)
