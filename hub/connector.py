"""The connector SDK: ``ConnectorConfig``, ``WebhookSource``, ``PollingSource``, ``Action``.

A connector package exports one ``Connector`` (as its module attribute
``connector``) and registers it under the ``hub.connectors`` entry point group.
The hub builds one instance of each source and action per configured
connection, and one optional ``ConnectorSession`` per connection for state the
actions share (an OAuth token cache, a rate limiter).

Rules the hub relies on (the test kit checks them):

- ``WebhookSource.verify`` and ``parse`` do no I/O; the ingress stores and replies.
- ``PollingSource.poll`` is stateless: cursor in, events and cursor out.
- ``Action.run`` forwards ``ctx.idempotency_key`` to the vendor (or searches
  before it creates), never retries and never sleeps: it raises by consequence
  (``hub.errors``) and the runner decides.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict

from hub.errors import ParseError
from hub.events import Event

if TYPE_CHECKING:
    from aiohttp import web

    from hub.http import HttpClient
    from hub.limits import Budget
    from hub.oauth import OAuthApp
    from hub.shared import SharedState

__all__ = [
    "Action",
    "ActionContext",
    "Connector",
    "ConnectorConfig",
    "ConnectorSession",
    "Page",
    "PollContext",
    "PollingSource",
    "WebhookReply",
    "WebhookRequest",
    "WebhookSource",
]


class ConnectorConfig(BaseModel):
    """Base of every connection's settings: unknown keys are rejected, fields described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)
InputT = TypeVar("InputT", bound=BaseModel)
CursorT = TypeVar("CursorT")


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What a provider sent, exactly as received (``body`` is the raw bytes).

    ``headers`` is case-insensitive (aiohttp's ``CIMultiDictProxy`` in ``hub serve``).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        """The body decoded as UTF-8.

        Raises:
            ParseError: the body is not valid UTF-8.
        """
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"body is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ParseError: the body is not JSON, with the position of the problem.
        """
        try:
            return json.loads(self.text())
        except json.JSONDecodeError as exc:
            raise ParseError(
                f"body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (last value wins)."""
        return dict(parse_qsl(self.text(), keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """A source's own answer to a request that is not an event (a ``GET`` handshake)."""

    status: int = 200
    body: str = ""
    content_type: str = "text/plain"


class ConnectorSession:
    """Per-connection state shared by that connection's actions (tokens, limiters).

    Created once per connection by the hub; ``open``/``close`` run with the app.
    A session that sets ``budget`` (a ``hub.limits.Budget``) has its vendor's
    rate limits respected by the dispatcher: steps wait for budget rather than
    fail. Before ``open`` the hub calls ``share`` with the state its processes
    have in common (Redis under ``engine: celery``), so budgets and tokens are
    shared by every worker.
    """

    budget: Budget | None = None
    shared: SharedState | None = None

    def __init__(self, config: ConnectorConfig, connection: str, http: HttpClient) -> None:
        self.config = config
        self.connection = connection
        self.http = http

    def share(self, state: SharedState) -> None:
        """Keep the budget (and, in subclasses that extend this, tokens) in ``state``."""
        self.shared = state
        if self.budget is not None:
            self.budget.state = state

    async def open(self) -> None:
        """Acquire what the session needs (nothing by default)."""

    async def close(self) -> None:
        """Release it."""


class WebhookSource(Generic[ConfigT]):
    """Events a provider pushes to ``POST /hooks/{connection}``."""

    name: ClassVar[str]
    emits: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ConfigT, connection: str = "") -> None:
        self.config = config
        self.connection = connection

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Answer a non-POST request (subscription checks); ``None`` means 405."""
        return None

    def verify(self, request: WebhookRequest) -> None:
        """Check the signature over the raw bytes; raise ``SignatureError`` if it fails."""
        raise NotImplementedError  # pragma: no cover - abstract

    def parse(self, request: WebhookRequest) -> list[Event]:
        """Turn a verified request into events; raise ``ParseError`` or ``SkipEvent``."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True, slots=True)
class Page(Generic[CursorT]):
    """One poll's result: the events, the cursor to resume from, and whether to poll again now."""

    events: list[Event]
    cursor: CursorT | None
    more: bool = False


@dataclass(slots=True)
class PollContext:
    """What a poll may use: the connection's HTTP client and session, the clock, a logger."""

    connection: str
    http: HttpClient
    now: datetime
    session: ConnectorSession | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("hub.poll"))


class PollingSource(Generic[ConfigT, CursorT]):
    """Events the hub fetches on an interval; stateless (cursor in, page out)."""

    name: ClassVar[str]
    emits: ClassVar[tuple[str, ...]] = ()
    interval: ClassVar[timedelta] = timedelta(minutes=5)

    def __init__(self, config: ConfigT, connection: str = "") -> None:
        self.config = config
        self.connection = connection

    def configured(self) -> bool:
        """False when this connection's config leaves the source off (no API key, no folder).

        A connection used only for webhooks then runs no poller, instead of
        failing a poll every interval.
        """
        return True

    async def poll(self, cursor: CursorT | None, ctx: PollContext) -> Page[CursorT]:
        """Fetch the events after ``cursor``; keep the cursor when there is nothing new."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(slots=True)
class ActionContext:
    """What one attempt of one step may use.

    Attributes:
        idempotency_key: stable hash of (recipe, event key, step id): send it to
            the vendor (header, external id, ``reference_number``) so that a
            retry, a redelivery or a replay writes once.
        attempt: 1 for the first try.
        dry_run: true under ``hub recipes test``; actions are not called then.
    """

    idempotency_key: str
    connection: str
    http: HttpClient
    session: ConnectorSession | None = None
    run_id: str = ""
    step_id: str = ""
    attempt: int = 1
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("hub.action"))


class Action(Generic[ConfigT, InputT]):
    """A write to a sink: typed input in, a small JSON-able dict out."""

    name: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    description: ClassVar[str] = ""

    def __init__(self, config: ConfigT, connection: str = "") -> None:
        self.config = config
        self.connection = connection

    async def run(self, item: InputT, ctx: ActionContext) -> dict[str, Any]:
        """Do the write once in effect; raise ``TransientError``/``PermanentError`` on failure."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True)
class Connector:
    """Everything the hub knows of one connector package.

    Attributes:
        name: the slug used in ``hub.yaml`` (``connector: zoho_books``).
        config: the settings model of one connection.
        base_url: how to get the HTTP client's base URL from a config (``None``: absolute URLs).
        session: per-connection shared state, if the actions need any.
        sandbox: a factory for the local aiohttp app that speaks the vendor's API.
        oauth: the vendor's authorization-code flow, if a connection can get its
            refresh token through the dashboard's Connect button (``hub.oauth``).
    """

    name: str
    title: str
    config: type[ConnectorConfig]
    webhook: type[WebhookSource[Any]] | None = None
    pollers: tuple[type[PollingSource[Any, Any]], ...] = ()
    actions: tuple[type[Action[Any, Any]], ...] = ()
    session: type[ConnectorSession] | None = None
    base_url: Callable[[Any], str | None] | None = None
    sandbox: Callable[[], web.Application] | None = None
    docs: str = ""
    oauth: OAuthApp | None = None

    @property
    def emits(self) -> tuple[str, ...]:
        """Every event type this connector's sources can emit."""
        types: list[str] = list(self.webhook.emits) if self.webhook else []
        for poller in self.pollers:
            types.extend(t for t in poller.emits if t not in types)
        return tuple(types)
