"""Outbound HTTP for connectors: ``HttpClient`` and ``raise_for_status``, the one status → error map.

Every exchange made while a step runs is recorded (method, URL, status,
duration, redacted body excerpts) into the attempt log through a context
variable that the runner sets, so connectors get an attempt timeline without
writing any logging code. Network failures become ``TransientError``: a
timeout may mean the vendor committed, which is why actions search before they
create or send an idempotency key.
"""

from __future__ import annotations

import contextvars
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from hub.errors import AuthError, PermanentError, RateLimitError, TransientError

__all__ = [
    "Exchange",
    "HttpClient",
    "Response",
    "raise_for_status",
    "record_exchanges",
    "redact",
    "retry_after_seconds",
]

EXCERPT = 2000
_SENSITIVE = re.compile(
    r"(token|secret|password|passwd|authorization|api[_-]?key|client_secret|signature|cookie)",
    re.IGNORECASE,
)
_QUERY_SECRET = re.compile(
    r"((?:refresh_token|client_secret|access_token|code|password|api_key)=)[^&\s\"]+", re.IGNORECASE
)


def redact(value: Any) -> Any:
    """A copy of ``value`` with every sensitive-looking key's value replaced by ``***``."""
    if isinstance(value, Mapping):
        return {
            k: ("***" if isinstance(k, str) and _SENSITIVE.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _QUERY_SECRET.sub(r"\1***", value)
    return value


def _excerpt(body: Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            text = body[:EXCERPT].decode("utf-8", "replace")
            return _QUERY_SECRET.sub(r"\1***", text)
    if isinstance(body, str):
        return _QUERY_SECRET.sub(r"\1***", body[:EXCERPT])
    return json.dumps(redact(body), ensure_ascii=False, default=str)[:EXCERPT]


@dataclass(slots=True)
class Exchange:
    """One HTTP call as the attempt log shows it (already redacted)."""

    method: str
    url: str
    status: int | None
    duration_ms: float
    request: str | None
    response: str | None
    error: str | None = None


_recorder: contextvars.ContextVar[list[Exchange] | None] = contextvars.ContextVar(
    "hub_http_recorder", default=None
)


def record_exchanges() -> tuple[list[Exchange], contextvars.Token[list[Exchange] | None]]:
    """Start recording exchanges in this context; reset with ``_recorder.reset(token)``."""
    sink: list[Exchange] = []
    return sink, _recorder.set(sink)


def stop_recording(token: contextvars.Token[list[Exchange] | None]) -> None:
    """Stop the recording started by ``record_exchanges``."""
    _recorder.reset(token)


@dataclass(slots=True)
class Response:
    """A finished HTTP response with its body read."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    method: str = "GET"
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body as JSON; ``PermanentError`` if a 2xx body is not JSON."""
        if self._json is None:
            if not self.body:
                return None
            try:
                self._json = json.loads(self.body)
            except ValueError as exc:
                raise PermanentError(
                    f"{self.method} {self.url} answered {self.status} with a body that is not JSON",
                    self.status,
                    self.text()[:200],
                ) from exc
        return self._json

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), None when absent or bad."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _vendor_message(resp: Response) -> str:
    try:
        doc = resp.json()
    except PermanentError:
        return resp.text()[:300]
    if isinstance(doc, dict):
        for key in ("message", "description", "error_description", "error"):
            value = doc.get(key)
            if isinstance(value, str) and value:
                code = doc.get("code") or doc.get("errorCode")
                return f"{value} (code {code})" if code not in (None, "") else value
            if isinstance(value, dict):
                inner = value.get("description") or value.get("message")
                if isinstance(inner, str):
                    return inner
    return resp.text()[:300]


def raise_for_status(resp: Response) -> None:
    """Map an HTTP status to the hub's error by consequence (2xx/3xx: nothing).

    - 429 → ``RateLimitError`` (``Retry-After`` honoured)
    - 408, 425, 5xx → ``TransientError``
    - 401, 403 → ``AuthError`` (the connection is flagged for re-authorization)
    - other 4xx → ``PermanentError`` carrying the vendor's message
    """
    status = resp.status
    if status < 400:
        return
    where = f"{resp.method} {resp.url.split('?')[0]}"
    message = _vendor_message(resp)
    detail = _excerpt(resp.body)
    if status == 429:
        raise RateLimitError(
            f"{where} is rate limited: {message}",
            status,
            detail,
            retry_after=retry_after_seconds(resp.headers),
        )
    if status in (408, 425) or status >= 500:
        raise TransientError(
            f"{where} failed with {status}: {message}",
            status,
            detail,
            retry_after=retry_after_seconds(resp.headers),
        )
    if status in (401, 403):
        raise AuthError(
            f"{where} refused the credentials ({status}): {message}; re-authorize the connection",
            status,
            detail,
        )
    raise PermanentError(f"{where} rejected the request ({status}): {message}", status, detail)


class HttpClient:
    """An aiohttp client bound to a base URL, recording every exchange for the attempt log.

    Open it with ``async with`` or ``await client.open()``; one per connection.
    """

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._session = session
        self._owns_session = session is None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "hub/0.1 (+https://github.com/hub)", **self._headers},
            )

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HttpClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url(self, path: str) -> str:
        """``path`` joined to the base URL (absolute URLs are kept)."""
        if path.startswith(("http://", "https://")) or not self.base_url:
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole answer.

        Raises:
            TransientError: timeouts, refused or reset connections (the vendor
                may have committed: callers must be idempotent).
        """
        if self._session is None:
            await self.open()
        assert self._session is not None
        url = self.url(path)
        started = time.perf_counter()
        shown_url = url if not params else f"{url}?{_query(params)}"
        request_excerpt = _excerpt(json_body if json_body is not None else data)
        extra: dict[str, Any] = {}
        if timeout is not None:  # None would *disable* the session's timeout in aiohttp
            extra["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self._session.request(
                method, url, params=params, json=json_body, data=data, headers=headers, **extra
            ) as raw:
                body = await raw.read()
                resp = Response(raw.status, raw.headers, body, shown_url, method)
        except TimeoutError as exc:
            self._record(method, shown_url, None, started, request_excerpt, None, "timed out")
            raise TransientError(
                f"{method} {url} timed out after {timeout or self.timeout:g}s; "
                "the vendor may still have applied it, so the retry must be idempotent"
            ) from exc
        except aiohttp.ClientError as exc:
            self._record(method, shown_url, None, started, request_excerpt, None, str(exc))
            raise TransientError(f"{method} {url} failed: {exc.__class__.__name__}: {exc}") from exc
        self._record(method, shown_url, resp.status, started, request_excerpt, _excerpt(body), None)
        return resp

    def _record(
        self,
        method: str,
        url: str,
        status: int | None,
        started: float,
        request: str | None,
        response: str | None,
        error: str | None,
    ) -> None:
        sink = _recorder.get()
        if sink is not None:
            sink.append(
                Exchange(
                    method,
                    _QUERY_SECRET.sub(r"\1***", url),
                    status,
                    (time.perf_counter() - started) * 1000,
                    request,
                    response,
                    error,
                )
            )

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Response:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)


def _query(params: Mapping[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in params.items() if v is not None})
