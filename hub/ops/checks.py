"""How ``Ops.test_connection`` checks a connection: the cheapest call that proves anything.

OAuth connectors (Zoho, Salesforce) get an access token, which exchanges the
refresh token with the vendor unless a valid one is cached: that proves the
client and the refresh token. Webhook-only connectors cannot be called, so
their required secrets are checked for presence; a real signed webhook is
the full proof.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hub.connections import LiveConnection
from hub.ops.settings import masked

__all__ = ["check_connection"]


@runtime_checkable
class _TokenSource(Protocol):
    """A session's OAuth helper (Zoho, Salesforce): ``access_token`` exchanges when needed."""

    async def access_token(self) -> str: ...


async def check_connection(live: LiveConnection) -> tuple[bool, str]:
    """Check an open connection's credentials; ``(ok, message)``.

    Raises:
        HubError: the vendor refused (the caller reports it as a failed check).
    """
    oauth = getattr(live.session, "oauth", None)
    if isinstance(oauth, _TokenSource):
        await oauth.access_token()
        return True, f"{live.connector.title} accepted the client and refresh token"
    missing = [k for k, v in masked(live.config).items() if v == {"set": False}]
    required = [k for k in missing if live.connector.config.model_fields[k].is_required()]
    if required:
        return False, f"secrets not set: {', '.join(required)}"
    parts = []
    if live.webhook is not None:
        parts.append(
            f"webhook signing secret is set; point {live.connector.title} at /hooks/{live.name}"
        )
    if live.pollers:
        parts.append(f"{len(live.pollers)} polling source(s) configured")
    if live.actions:
        parts.append(f"{len(live.actions)} action(s) available")
    return True, "; ".join(parts) or "settings are valid"
