"""hub: webhooks and polls in, one event schema, YAML recipes out, exactly once in effect.

This package re-exports what connector authors need; everything else is
internal. ``__all__`` is pinned by a test so the SDK surface changes on purpose.
"""

from __future__ import annotations

from hub.connector import (
    Action,
    ActionContext,
    Connector,
    ConnectorConfig,
    ConnectorSession,
    Page,
    PollContext,
    PollingSource,
    WebhookReply,
    WebhookRequest,
    WebhookSource,
)
from hub.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    HubError,
    ParseError,
    PermanentError,
    RateLimitError,
    SignatureError,
    SkipEvent,
    TransientError,
)
from hub.events import Event, from_epoch, parse_time
from hub.http import HttpClient, Response, raise_for_status
from hub.secrets import Secret
from hub.signing import hmac_b64, hmac_hex, hmac_matches

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionContext",
    "AuthError",
    "ConfigError",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorSession",
    "Event",
    "HttpClient",
    "HubError",
    "Page",
    "ParseError",
    "PermanentError",
    "PollContext",
    "PollingSource",
    "RateLimitError",
    "Response",
    "Secret",
    "SignatureError",
    "SkipEvent",
    "TransientError",
    "WebhookReply",
    "WebhookRequest",
    "WebhookSource",
    "from_epoch",
    "hmac_b64",
    "hmac_hex",
    "hmac_matches",
    "parse_time",
    "raise_for_status",
]
