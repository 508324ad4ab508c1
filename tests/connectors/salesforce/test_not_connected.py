"""A Salesforce connection saved before Connect was pressed: no refresh token yet.

The config accepts it (the Connect button obtains the refresh token); every
call fails with an ``AuthError`` that says to connect it in the dashboard,
without sending anything to Salesforce.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from connectors.salesforce import SalesforceConfig, SalesforceSession, connector
from hub.errors import AuthError
from hub.http import HttpClient, record_exchanges, stop_recording
from hub.oauth import not_connected
from hub.ops.settings import masked
from tests.helpers import free_port

CLIENT = {"client_id": "3MVG9SANDBOX.hub.connected.app", "client_secret": "consumer-secret"}


@pytest.fixture
async def nowhere() -> AsyncIterator[HttpClient]:
    """A client for a port nobody listens on: a request would be a TransientError, not Auth."""
    async with HttpClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2.0) as http:
        yield http


def test_config_without_refresh_token_is_valid_and_shown_not_connected() -> None:
    config = SalesforceConfig.model_validate(CLIENT)
    assert config.refresh_token is None and masked(config)["refresh_token"] == {"set": False}
    reason = not_connected(connector.oauth, config)
    assert reason is not None and reason.startswith("not connected: press Connect")
    assert "Salesforce" in reason
    with pytest.raises(ValidationError) as caught:
        SalesforceConfig.model_validate({})
    assert {e["loc"][0] for e in caught.value.errors()} == {"client_id", "client_secret"}


async def test_calls_fail_with_an_auth_error_saying_to_connect(nowhere: HttpClient) -> None:
    session = SalesforceSession(SalesforceConfig.model_validate(CLIENT), "sf-new", nowhere)
    exchanges, token = record_exchanges()
    try:
        for attempt in (
            lambda: session.request("GET", "/services/data/v61.0/limits"),
            session.oauth.access_token,
            lambda: session.oauth.refresh(stale="old"),
        ):
            with pytest.raises(AuthError, match=r"^not connected: press Connect") as caught:
                await attempt()
            assert "dashboard" in str(caught.value) and "Salesforce" in str(caught.value)
    finally:
        stop_recording(token)
    assert exchanges == [] and session.oauth.refreshes == 0
