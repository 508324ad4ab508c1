"""Zoho Accounts' consent page and authorization-code grant, shared by the Books, CRM and Desk sandboxes.

``GET /oauth/v2/auth`` checks the client and the redirect URI like Zoho (an
unknown client or an unregistered redirect URI gets Zoho's error page, never a
redirect) and shows a consent page: a real HTML form with Accept and Deny.
``POST /oauth/v2/auth`` is that form: Accept redirects to the redirect URI
with ``code``, ``state``, ``location`` and ``accounts-server`` (Zoho's
multi-DC parameters); Deny redirects with ``error=access_denied``.

``redeem_code`` is the token endpoint's ``authorization_code`` grant: a code
works once, for 2 minutes (Zoho's grant-token lifetime), for the client it
was issued to and the same ``redirect_uri``; a refresh token comes back only
when the consent asked for ``access_type=offline``. Each sandbox mints the
tokens itself, so its own limits and token checks apply to them.

Zoho's exact answer to a ``redirect_uri`` that differs between the two steps
is UNCONFIRMED; the sandbox answers ``{"error": "invalid_redirect_uri"}`` (HTTP
200, like Zoho's other token errors).
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from aiohttp import web

__all__ = ["AuthCode", "ZohoConsent", "add_consent_routes", "redeem_code"]

CODE_TTL = 120.0
# The parameters the consent form carries from the GET to the POST.
_CARRIED = ("client_id", "redirect_uri", "scope", "state", "response_type", "access_type", "prompt")


@dataclass(frozen=True, slots=True)
class AuthCode:
    """One issued grant token: whose, for which redirect URI and scopes, until when."""

    client_id: str
    redirect_uri: str
    scope: str
    offline: bool
    expires_at: float


@dataclass
class ZohoConsent:
    """The consent side of a Zoho sandbox: registered redirect URIs and the codes issued.

    ``redirect_uris`` empty means any http(s) URI is accepted (handy in tests
    whose hub listens on a random port); set it to behave like a client
    registered in the API console with exactly those URIs.
    """

    redirect_uris: tuple[str, ...] = ()
    location: str = "in"
    code_ttl: float = CODE_TTL
    codes: dict[str, AuthCode] = field(default_factory=dict)
    granted: int = 0
    denied: int = 0

    def reset(self) -> None:
        self.codes.clear()
        self.granted = 0
        self.denied = 0

    def configure(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Apply the consent keys of a ``/__sandbox__/settings`` body; the current values.

        ``redirect_uris`` (a list; empty accepts any), ``code_ttl`` (seconds),
        ``location`` (the ``location`` sent back). ``ValueError`` names a bad value.
        """
        if "redirect_uris" in raw:
            uris = raw["redirect_uris"]
            if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                raise ValueError("redirect_uris must be a list of URLs")
            self.redirect_uris = tuple(uris)
        if "code_ttl" in raw:
            self.code_ttl = float(raw["code_ttl"])
        if "location" in raw:
            self.location = str(raw["location"])
        return {
            "redirect_uris": list(self.redirect_uris),
            "code_ttl": self.code_ttl,
            "location": self.location,
        }

    def registered(self, redirect_uri: str) -> bool:
        if self.redirect_uris:
            return redirect_uri in self.redirect_uris
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and bool(parts.netloc)


class AccountsState(Protocol):
    """What the consent routes need of a Zoho sandbox's state."""

    @property
    def client_id(self) -> str: ...
    @property
    def consent(self) -> ZohoConsent: ...
    @property
    def clock(self) -> Callable[[], float]: ...


def redeem_code(
    state: AccountsState, params: dict[str, str]
) -> tuple[AuthCode | None, dict[str, str] | None]:
    """The ``authorization_code`` grant's checks: ``(code, None)`` or ``(None, Zoho's error body)``.

    The caller has checked the client ID and secret. The code is spent by the
    first attempt, whatever its outcome (a replayed code never works).
    """
    issued = state.consent.codes.pop(params.get("code", ""), None)
    if issued is None or issued.expires_at <= state.clock():
        return None, {"error": "invalid_code"}
    if issued.client_id != params.get("client_id"):
        return None, {"error": "invalid_code"}
    if issued.redirect_uri != params.get("redirect_uri"):
        return None, {"error": "invalid_redirect_uri"}
    return issued, None


def _error_page(status: int, title: str, message: str) -> web.Response:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html")


def _redirect(redirect_uri: str, params: dict[str, str]) -> web.HTTPFound:
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")


def _checked(state: AccountsState, q: dict[str, str]) -> web.Response | None:
    """Zoho's own error pages: these never redirect, the user sees them at Zoho."""
    if q.get("client_id") != state.client_id:
        return _error_page(400, "Invalid Client", "The client_id is not a registered client.")
    if not state.consent.registered(q.get("redirect_uri", "")):
        return _error_page(
            400,
            "Invalid Redirect Uri",
            "Redirect URI passed does not match with the one configured",
        )
    return None


def _consent_page(request: web.Request, q: dict[str, str]) -> web.Response:
    scopes = [s for s in q.get("scope", "").split(",") if s]
    items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{html.escape(q[name], quote=True)}'>"
        for name in _CARRIED
        if name in q
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Zoho Accounts (sandbox): consent</title></head>
<body>
<h1>Zoho Accounts (sandbox)</h1>
<p>The application <strong>{html.escape(q["client_id"])}</strong> would like to access
your Zoho account{" while you are offline" if q.get("access_type") == "offline" else ""}:</p>
<ul id="scopes">{items}</ul>
<form method="post" action="{html.escape(request.path, quote=True)}">
{hidden}
<button type="submit" name="decision" value="accept" id="accept">Accept</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
</body></html>"""
    return web.Response(text=body, content_type="text/html")


def add_consent_routes(
    app: web.Application,
    key: web.AppKey[Any],
    base: Callable[[web.Request], str],
) -> None:
    """Add ``GET`` and ``POST /oauth/v2/auth`` to a Zoho sandbox whose state is ``app[key]``.

    ``base`` gives the sandbox's own URL (with its mount prefix), returned as
    ``accounts-server`` so the code is swapped where it was issued.
    """

    async def authorize(request: web.Request) -> web.StreamResponse:
        state: AccountsState = request.app[key]
        q = dict(request.query)
        problem = _checked(state, q)
        if problem is not None:
            return problem
        if q.get("response_type") != "code":
            return _error_page(400, "Invalid Request", "response_type must be code.")
        return _consent_page(request, q)

    async def decide(request: web.Request) -> web.StreamResponse:
        state: AccountsState = request.app[key]
        form = {k: str(v) for k, v in (await request.post()).items()}
        problem = _checked(state, form)
        if problem is not None:
            return problem
        answer: dict[str, str] = {}
        if form.get("decision") == "accept":
            code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            state.consent.codes[code] = AuthCode(
                client_id=form["client_id"],
                redirect_uri=form["redirect_uri"],
                scope=form.get("scope", ""),
                offline=form.get("access_type") == "offline",
                expires_at=state.clock() + state.consent.code_ttl,
            )
            state.consent.granted += 1
            answer = {
                "code": code,
                "location": state.consent.location,
                "accounts-server": base(request),
            }
        else:
            state.consent.denied += 1
            answer = {"error": "access_denied"}
        if "state" in form:
            answer["state"] = form["state"]
        raise _redirect(form["redirect_uri"], answer)

    app.router.add_get("/oauth/v2/auth", authorize)
    app.router.add_post("/oauth/v2/auth", decide)
