"""``webhook_out.send``: POST a signed Standard Webhooks request to the configured receiver.

Exactly once, in effect: the step's idempotency key is sent as ``webhook-id``.
It is the same on every retry, redelivery and replay of the step, while
``webhook-timestamp`` and ``webhook-signature`` are made fresh for each
attempt. The Standard Webhooks spec tells receivers to use ``webhook-id`` as
their idempotency key, so when a request times out after the receiver
committed, the retry the runner makes is recognised and dropped there. An
outbound webhook has no other way to be exactly once: the hub cannot ask an
arbitrary receiver whether it already saw a message.

Each send resolves the host once, refuses non-public addresses unless the
connection allows them (``safety``), and connects only to the addresses it
checked, through its own short-lived client session; redirects are never
followed.

Statuses, per the spec's "Delivery success and failure": 2xx is success;
3xx is a ``PermanentError`` (configure the final URL); 410 Gone means the
receiver disabled the endpoint (``PermanentError``); 401/403 mean it rejects
the signature (``AuthError``); 429, 408, 425 and 5xx are ``TransientError``
with ``Retry-After`` for the runner; other 4xx are ``PermanentError``
(``hub.http.raise_for_status`` is the map, with clearer words for these cases).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_jsonable_python
from yarl import URL

from hub.connector import Action, ActionContext
from hub.errors import AuthError, PermanentError
from hub.http import HttpClient, Response, raise_for_status

from .config import WebhookOutConfig
from .safety import RedirectRefused, host_allowed, pinned_session, resolve_checked
from .signature import signature_header

__all__ = ["SendWebhook", "WebhookIn", "encode_body", "target_url"]

USER_AGENT = "hub-webhook/0.1 (+https://github.com/hub)"
EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_WEBHOOK_ID = re.compile(r"^[A-Za-z0-9_:-]{1,200}$")  # no "." (the spec), no spaces


class WebhookIn(BaseModel):
    """One webhook to send."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(
        description=(
            "The JSON object to send as the body, e.g. {{ event }} or a rendered object; "
            "a string holding a JSON object is accepted too."
        )
    )
    event_type: str | None = Field(
        default=None,
        description=(
            "Event type, e.g. payment.captured; sent as the body's top-level 'type' field "
            "(the spec's payload structure) unless the payload already has the same one."
        ),
    )
    url_path: str | None = Field(
        default=None,
        description=(
            "Path appended to the connection's URL, e.g. 'orders/created'; literal text "
            "(special characters are percent-encoded), no query or '..'."
        ),
    )

    @field_validator("payload", mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"payload text is not JSON: {exc}") from None
            if not isinstance(value, dict):
                raise ValueError("payload must be a JSON object")
        return value

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, value: str | None) -> str | None:
        if value is not None and not EVENT_TYPE.match(value):
            raise ValueError(
                f"{value!r} is not an event type: dot-separated names of [A-Za-z0-9_-], "
                "e.g. invoice.paid"
            )
        return value

    @field_validator("url_path")
    @classmethod
    def _url_path(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if any(ch in value for ch in "?#\\") or any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
            raise ValueError(
                "url_path must be a plain path: no '?', '#', '\\' or control characters"
            )
        if ".." in value.split("/") or "." in value.split("/") or "://" in value:
            raise ValueError("url_path must not contain '.', '..' segments or a scheme")
        return value

    @model_validator(mode="after")
    def _type_agrees(self) -> Self:
        given = self.payload.get("type")
        if self.event_type and given is not None and given != self.event_type:
            raise ValueError(
                f"payload.type is {given!r} but event_type is {self.event_type!r}; drop one"
            )
        return self

    def body(self) -> dict[str, Any]:
        """The object sent: the payload, with ``type`` first when ``event_type`` is given."""
        if self.event_type is None:
            return self.payload
        return {"type": self.event_type, **{k: v for k, v in self.payload.items() if k != "type"}}


def encode_body(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, exactly the bytes that are signed and sent.

    Raises:
        PermanentError: the payload holds something JSON cannot carry (NaN, an object).
    """
    try:
        text = json.dumps(
            body,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=to_jsonable_python,
        )
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"the webhook payload cannot be encoded as JSON: {exc}") from exc
    return text.encode("utf-8")


def target_url(base: str, url_path: str | None) -> URL:
    """The connection's URL with ``url_path`` appended; scheme, host and port never change."""
    url = URL(base)
    if not url_path:
        return url
    joined = url.path.rstrip("/") + "/" + url_path.lstrip("/")
    target = url.with_path(joined).with_query(url.query)
    if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
        raise PermanentError(f"url_path {url_path!r} would change the webhook's host")
    return target


class SendWebhook(Action[WebhookOutConfig, WebhookIn]):
    """POST one signed JSON webhook; the step's idempotency key is its ``webhook-id``."""

    name = "webhook_out.send"
    input_model = WebhookIn
    description = "Send a signed Standard Webhooks POST; receivers dedupe by webhook-id."

    async def run(self, item: WebhookIn, ctx: ActionContext) -> dict[str, Any]:
        cfg = self.config
        msg_id = ctx.idempotency_key
        if not _WEBHOOK_ID.match(msg_id):
            raise PermanentError(
                "the step's idempotency key cannot be a webhook-id (Standard Webhooks forbids "
                "'.' and spaces in it); this is a hub bug, please report it"
            )
        url = target_url(cfg.url, item.url_path)
        host = url.host or ""
        if not host_allowed(host, cfg.allowed_hosts):
            raise PermanentError(f"webhook host {host} is not in the connection's allowed_hosts")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve_checked(host, port, allow_private=cfg.allow_private_networks)

        body = encode_body(item.body())
        timestamp = int(time.time())
        keys = [cfg.secret] if cfg.previous_secret is None else [cfg.secret, cfg.previous_secret]
        headers = {
            **cfg.headers,
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(keys, msg_id, timestamp, body),
        }
        # Not ctx.http: the connection's client resolves names itself, and the
        # connection must go to the addresses checked above (DNS rebinding).
        async with pinned_session(host, addresses, cfg.timeout, {"User-Agent": USER_AGENT}) as s:
            http = HttpClient(timeout=cfg.timeout, session=s)
            resp = await http.post(str(url), data=body, headers=headers)
        ctx.log.info("webhook %s sent to %s: %s", msg_id, host, resp.status)
        _check(resp)
        return {"status": resp.status, "webhook_id": msg_id}


def _check(resp: Response) -> None:
    """Raise by consequence for a non-2xx answer (the spec's status handling)."""
    where = f"POST {resp.url.split('?')[0]}"
    if 300 <= resp.status < 400:  # a 3xx without Location reaches here; others stop earlier
        raise RedirectRefused(
            f"{where} answered {resp.status} (a redirect); webhooks do not follow "
            "redirects: configure the final URL on the connection",
            resp.status,
        )
    try:
        raise_for_status(resp)
    except AuthError as exc:
        raise AuthError(
            f"{where} rejected the webhook ({resp.status}): the receiver does not accept the "
            "signature; give it this connection's secret (during a rotation keep the old one "
            "in previous_secret)",
            exc.status,
            exc.detail,
        ) from exc
    except PermanentError as exc:
        if resp.status == 410:
            raise PermanentError(
                f"{where} answered 410 Gone: endpoint disabled by receiver; stop the recipe "
                "step or configure a new URL",
                exc.status,
                exc.detail,
            ) from exc
        raise
    if not 200 <= resp.status < 300:
        raise PermanentError(f"{where} answered {resp.status}, which is not a success", resp.status)
