"""The SDK surface is pinned: changing it must be a decision, with a CHANGELOG entry."""

from __future__ import annotations

import hub

PINNED = [
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


def test_all_is_pinned_and_sorted() -> None:
    assert hub.__all__ == PINNED
    assert hub.__all__ == sorted(hub.__all__, key=lambda s: (s[0].islower(), s))
    for name in hub.__all__:
        assert getattr(hub, name) is not None


def test_hub_core_never_imports_connectors() -> None:
    import pathlib
    import re

    core = pathlib.Path(hub.__file__).parent
    offenders = [
        str(p)
        for p in core.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+connectors\b", p.read_text(), re.M)
    ]
    assert offenders == []
