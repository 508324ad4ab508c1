"""Zoho connections (Books, CRM, Desk) saved before Connect was pressed: no refresh token yet.

The refresh token is what the dashboard's Connect button obtains, so the
config models accept a connection without one. Such a connection must fail
every call with an ``AuthError`` that says to connect it (the runner then
dead-letters the step and flags the connection instead of retrying), without
sending anything to Zoho; every other missing setting is still reported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from hub.connector import Connector
from hub.errors import AuthError
from hub.http import HttpClient, record_exchanges, stop_recording
from hub.oauth import not_connected
from hub.ops.settings import connection_form, masked
from hub.registry import Registry
from tests.helpers import free_port

# The least each product needs besides the OAuth client: what an admin types before Connect.
SETTINGS: dict[str, dict[str, Any]] = {
    "zoho_books": {"organization_id": "60012345678"},
    "zoho_crm": {},
    "zoho_desk": {"org_id": "700123"},
}
CLIENT = {"client_id": "1000.SANDBOX", "client_secret": "sandbox-secret"}


@pytest.fixture
async def nowhere() -> AsyncIterator[HttpClient]:
    """A client for a port nobody listens on: a request would be a TransientError, not Auth."""
    async with HttpClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2.0) as http:
        yield http


def _connector(slug: str) -> Connector:
    return Registry.from_entry_points().connector(slug)


@pytest.mark.parametrize("slug", sorted(SETTINGS))
def test_config_without_refresh_token_is_valid_and_shown_not_connected(slug: str) -> None:
    connector = _connector(slug)
    config = connector.config.model_validate({**SETTINGS[slug], **CLIENT})
    assert masked(config)["refresh_token"] == {"set": False}
    reason = not_connected(connector.oauth, config)
    assert reason is not None and reason.startswith("not connected: press Connect")
    assert "dashboard" in reason and "Zoho" in reason
    field = {f.name: f for f in connection_form(connector, None).fields}["refresh_token"]
    assert field.type == "secret" and not field.required
    assert "press Connect" in field.description
    connected = connector.config.model_validate(
        {**SETTINGS[slug], **CLIENT, "refresh_token": "1000.r"}
    )
    assert not_connected(connector.oauth, connected) is None


@pytest.mark.parametrize("slug", sorted(SETTINGS))
def test_other_missing_settings_are_still_reported(slug: str) -> None:
    connector = _connector(slug)
    with pytest.raises(ValidationError) as caught:
        connector.config.model_validate(SETTINGS[slug])
    missing = {e["loc"][0] for e in caught.value.errors()}
    assert missing == {"client_id", "client_secret"}


@pytest.mark.parametrize("slug", sorted(SETTINGS))
async def test_calls_fail_with_an_auth_error_saying_to_connect(
    slug: str, nowhere: HttpClient
) -> None:
    connector = _connector(slug)
    assert connector.session is not None
    config = connector.config.model_validate({**SETTINGS[slug], **CLIENT})
    session: Any = connector.session(config, "new", nowhere)
    exchanges, token = record_exchanges()
    try:
        for attempt in (
            lambda: session.request("GET", "/anything"),
            session.oauth.access_token,  # what "test connection" calls
            lambda: session.oauth.refresh(stale="old"),
        ):
            with pytest.raises(AuthError) as caught:
                await attempt()
            assert str(caught.value).startswith("not connected: press Connect")
            assert "dashboard" in str(caught.value)
    finally:
        stop_recording(token)
    assert exchanges == []  # nothing was sent to Zoho
    assert session.oauth.refreshes == 0
