"""Salesforce's web server flow in the sandbox: the authorize page and the authorization-code grant.

``GET /services/oauth2/authorize`` checks the client and the callback URL like
Salesforce (an unknown client or a callback URL that is not the connected
app's gets an error page, never a redirect) and shows an "Allow Access?" page:
a real HTML form with Allow and Deny. ``POST`` is that form: Allow redirects
to ``redirect_uri`` with ``code`` and ``state``; Deny with
``error=access_denied&error_description=end-user denied authorization``.

``redeem_code`` is the token endpoint's ``authorization_code`` grant: a code
works once, for 15 minutes, for its client and the same ``redirect_uri``,
and when the authorize request carried a PKCE ``code_challenge`` (S256) the
grant must prove it with ``code_verifier``. Per Salesforce's docs a
challenge without a verifier fails with ``invalid_grant`` and a wrong
verifier with ``invalid_request``. A refresh token comes back only when the
scopes include ``refresh_token`` (or ``offline_access``/``full``).

UNCONFIRMED wording (the codes follow Salesforce's docs): the
``error_description`` texts ``invalid authorization code``, ``expired
authorization code``, ``invalid code verifier``, and ``redirect_uri must
match configuration``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from aiohttp import web

__all__ = ["AuthCode", "SalesforceConsent", "add_consent_routes", "redeem_code"]

CODE_TTL = 900.0
_CARRIED = (
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "response_type",
    "code_challenge",
    "code_challenge_method",
)
_OFFLINE_SCOPES = frozenset({"refresh_token", "offline_access", "full"})


@dataclass(frozen=True, slots=True)
class AuthCode:
    """One issued authorization code: whose, for which callback and scopes, until when."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    expires_at: float

    @property
    def offline(self) -> bool:
        return bool(_OFFLINE_SCOPES & set(self.scope.split()))


@dataclass
class SalesforceConsent:
    """The connected app's callback URLs and the codes issued by the authorize page.

    ``callback_urls`` empty means any http(s) URL is accepted (tests whose hub
    listens on a random port); set it to behave like a connected app with
    exactly those Callback URLs.
    """

    callback_urls: tuple[str, ...] = ()
    code_ttl: float = CODE_TTL
    codes: dict[str, AuthCode] = field(default_factory=dict)
    granted: int = 0
    denied: int = 0

    def reset(self) -> None:
        self.codes.clear()
        self.granted = 0
        self.denied = 0

    def registered(self, redirect_uri: str) -> bool:
        if self.callback_urls:
            return redirect_uri in self.callback_urls
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and bool(parts.netloc)


class ConsentState(Protocol):
    """What the authorize routes need of the Salesforce sandbox's state."""

    @property
    def client_id(self) -> str: ...
    @property
    def consent(self) -> SalesforceConsent: ...
    @property
    def clock(self) -> Callable[[], float]: ...


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def redeem_code(
    state: ConsentState, params: dict[str, str]
) -> tuple[AuthCode | None, dict[str, str] | None]:
    """The grant's checks: ``(code, None)`` or ``(None, Salesforce's error body)`` (HTTP 400).

    The caller has checked the client ID and secret. The code is spent by the
    first attempt, whatever its outcome.
    """
    issued = state.consent.codes.pop(params.get("code", ""), None)
    if issued is None or issued.client_id != params.get("client_id"):
        return None, {"error": "invalid_grant", "error_description": "invalid authorization code"}
    if issued.expires_at <= state.clock():
        return None, {"error": "invalid_grant", "error_description": "expired authorization code"}
    if issued.redirect_uri != params.get("redirect_uri"):
        return None, {
            "error": "redirect_uri_mismatch",
            "error_description": "redirect_uri must match configuration",
        }
    if issued.code_challenge is not None:
        verifier = params.get("code_verifier")
        if not verifier:
            return None, {"error": "invalid_grant", "error_description": "invalid code verifier"}
        if not hmac.compare_digest(_s256(verifier), issued.code_challenge):
            return None, {"error": "invalid_request", "error_description": "invalid code verifier"}
    return issued, None


def _error_page(error: str, description: str) -> web.Response:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>OAuth Error</title>"
        "</head><body><h1>OAuth Error</h1><p>We can't authorize you because of an OAuth "
        "error. For more information, contact your Salesforce administrator.</p>"
        f"<p id='error'>error={html.escape(error)}&amp;error_description="
        f"{html.escape(description)}</p></body></html>"
    )
    return web.Response(status=400, text=body, content_type="text/html")


def _redirect(redirect_uri: str, params: dict[str, str]) -> web.HTTPFound:
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")


def _checked(state: ConsentState, q: dict[str, str]) -> web.Response | None:
    """Salesforce's own error pages: these never redirect."""
    if q.get("client_id") != state.client_id:
        return _error_page("invalid_client_id", "client identifier invalid")
    if not state.consent.registered(q.get("redirect_uri", "")):
        return _error_page("redirect_uri_mismatch", "redirect_uri must match configuration")
    return None


def _allow_page(request: web.Request, q: dict[str, str]) -> web.Response:
    scopes = [s for s in q.get("scope", "").split() if s]
    items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{html.escape(q[name], quote=True)}'>"
        for name in _CARRIED
        if name in q
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Allow Access? (Salesforce sandbox)</title></head>
<body>
<h1>Allow Access?</h1>
<p><strong>{html.escape(q["client_id"])}</strong> is asking to:</p>
<ul id="scopes">{items}</ul>
<form method="post" action="{html.escape(request.path, quote=True)}">
{hidden}
<button type="submit" name="decision" value="accept" id="accept">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
</body></html>"""
    return web.Response(text=body, content_type="text/html")


def add_consent_routes(app: web.Application, key: web.AppKey[Any]) -> None:
    """Add ``GET|POST /services/oauth2/authorize`` to the sandbox whose state is ``app[key]``."""

    async def authorize(request: web.Request) -> web.StreamResponse:
        state: ConsentState = request.app[key]
        q = dict(request.query)
        problem = _checked(state, q)
        if problem is not None:
            return problem
        error = _request_error(q)
        if error is not None:
            raise _redirect(q["redirect_uri"], {**error, **_state_of(q)})
        return _allow_page(request, q)

    async def decide(request: web.Request) -> web.StreamResponse:
        state: ConsentState = request.app[key]
        form = {k: str(v) for k, v in (await request.post()).items()}
        problem = _checked(state, form)
        if problem is not None:
            return problem
        error = _request_error(form)
        if error is not None:
            raise _redirect(form["redirect_uri"], {**error, **_state_of(form)})
        if form.get("decision") != "accept":
            state.consent.denied += 1
            denied = {
                "error": "access_denied",
                "error_description": "end-user denied authorization",
            }
            raise _redirect(form["redirect_uri"], {**denied, **_state_of(form)})
        code = f"aPrx{secrets.token_urlsafe(48)}=="
        state.consent.codes[code] = AuthCode(
            client_id=form["client_id"],
            redirect_uri=form["redirect_uri"],
            scope=form.get("scope", ""),
            code_challenge=form.get("code_challenge") or None,
            expires_at=state.clock() + state.consent.code_ttl,
        )
        state.consent.granted += 1
        raise _redirect(form["redirect_uri"], {"code": code, **_state_of(form)})

    app.router.add_get("/services/oauth2/authorize", authorize)
    app.router.add_post("/services/oauth2/authorize", decide)


def _state_of(q: dict[str, str]) -> dict[str, str]:
    return {"state": q["state"]} if "state" in q else {}


def _request_error(q: dict[str, str]) -> dict[str, str] | None:
    """Errors Salesforce sends back to the (valid) callback URL."""
    if q.get("response_type") != "code":
        return {
            "error": "unsupported_response_type",
            "error_description": "response type not supported",
        }
    if q.get("code_challenge") and q.get("code_challenge_method", "S256") != "S256":
        return {"error": "invalid_request", "error_description": "invalid code_challenge_method"}
    return None
