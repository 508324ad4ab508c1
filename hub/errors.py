"""The hub's exception tree: every failure is raised by its consequence.

::

    HubError
      ConfigError        bad recipe/config; never retried
      SignatureError     401; nothing stored
      SkipEvent          not a failure: logged, acknowledged, dropped
      ParseError         400; the body cannot be understood (nothing stored)
      StoreUnavailable   503; the provider should retry later
      Forbidden          403; the principal's role does not allow the action
      NotFound           404; no connection, recipe, job, ... of that name or id
      Conflict           409; the change clashes with what exists (a taken name, a finished job)
      ConnectorError
        TransientError   retried with backoff; optional retry_after (seconds)
          RateLimitError
        PermanentError   not retried; dead-lettered
          AuthError      also flags the connection for re-authorization

The runner decides what to do from the type alone, so connectors never retry
or sleep themselves. Messages say what failed and what to do, never a secret.
Every exception pickles (Celery ships them between processes), so ``__init__``
arguments stay simple and are passed to ``super().__init__``.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "Conflict",
    "ConnectorError",
    "Forbidden",
    "HubError",
    "NotFound",
    "ParseError",
    "PermanentError",
    "RateLimitError",
    "SignatureError",
    "SkipEvent",
    "StoreUnavailable",
    "TransientError",
]


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """A recipe, connection or hub.yaml is invalid; fixing the file is the only cure."""


class SignatureError(HubError):
    """A webhook's signature does not match its body: answered 401, nothing stored."""


class SkipEvent(HubError):
    """Not a failure: the payload is understood but not something the hub handles."""


class ParseError(HubError):
    """A webhook body cannot be parsed (not JSON, missing fields): answered 400."""


class StoreUnavailable(HubError):
    """The store cannot commit right now: ingress answers 503 so the provider retries."""


class Forbidden(HubError):
    """The caller is known but its role does not allow this action (API 403)."""


class NotFound(HubError):
    """What an operation names (a connection, recipe, event, job) does not exist (API 404)."""


class Conflict(HubError):
    """The change clashes with the current state: a name already taken, a job already over (409)."""


class ConnectorError(HubError):
    """A call to an external service failed.

    Args:
        message: what failed and what to do about it.
        status: the HTTP status, when there was one.
        detail: a short, redacted excerpt of the vendor's answer.
    """

    def __init__(self, message: str, status: int | None = None, detail: str | None = None):
        super().__init__(message, status, detail)
        self.message = message
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class TransientError(ConnectorError):
    """Worth trying again later (5xx, timeouts, connection resets, 429).

    Args:
        retry_after: seconds the vendor asked us to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status, detail)
        self.args = (message, status, detail, retry_after)
        self.retry_after = retry_after


class RateLimitError(TransientError):
    """The vendor's rate limit or API credit budget is spent; wait ``retry_after``."""


class PermanentError(ConnectorError):
    """Retrying cannot help (validation errors, 4xx): dead-letter with the reason."""


class AuthError(PermanentError):
    """Credentials are rejected even after a refresh: the connection needs re-authorization."""
