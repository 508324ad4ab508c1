"""``Ops`` called directly, as the dashboard and the OAuth connect flow do."""

from __future__ import annotations

from typing import Any

import pytest

from hub.auth import Principal, Role
from hub.errors import ConfigError, Forbidden, NotFound
from hub.ops import OPS
from tests.helpers import payment_body

ADMIN = Principal("alice", Role.ADMIN, "password")
VIEWER = Principal("victor", Role.VIEWER, "token")


async def test_oauth_credentials_are_stored_sealed_and_clear_reauth(running_hub: Any) -> None:
    running = await running_hub()
    ops = running.runner.app[OPS]
    store = running.hub.store
    await store.update_connection_state("books", {"needs_reauth": True, "reauth_reason": "revoked"})
    assert (await ops.connection("books")).needs_reauth is True  # type: ignore[union-attr]
    with pytest.raises(Forbidden):
        await ops.set_connection_secret_state(VIEWER, "books", {"refresh_token": "x"})
    with pytest.raises(ConfigError):
        await ops.set_connection_secret_state(ADMIN, "books", {"no_such_field": "x"})
    await ops.set_connection_secret_state(ADMIN, "books", {"refresh_token": "1000.sandbox.refresh"})
    view = await ops.connection("books")
    assert view is not None and view.needs_reauth is False and view.reauth_reason is None
    assert view.origin == "dashboard" and view.config["refresh_token"] == {"set": True}
    row = await store.get_connection("books")
    assert row is not None and str(row.config["refresh_token"]).startswith("enc:v1:")
    entries, _ = await ops.audit_log(limit=1)
    assert (entries[0].action, entries[0].actor, entries[0].detail) == (
        "connection.authorize",
        "alice",
        {"fields": ["refresh_token"]},
    )
    # The live connection took the new credentials: deliveries still go through.
    assert (await running.post(payment_body(1))).status == 202
    await running.settled(1)
    assert (await running.hub.store.counts())["runs_succeeded"] == 1


async def test_reads_and_forms(running_hub: Any) -> None:
    running = await running_hub()
    ops = running.runner.app[OPS]
    names = [c.name for c in await ops.connections()]
    assert names == ["books", "razorpay-main"]
    form = ops.connection_form("zoho_books", "books")
    fields = {f.name: f for f in form.fields}
    assert fields["client_secret"].type == "secret" and fields["client_secret"].value is None
    assert fields["data_centre"].type == "enum" and "in" in (fields["data_centre"].choices or [])
    assert fields["organization_id"].value == "60012345678" and fields["organization_id"].required
    assert fields["tax_ids"].type == "string" and "(JSON)" in fields["tax_ids"].description
    with pytest.raises(NotFound):
        ops.connection_form("nope")
    [recipe] = await ops.recipes()
    assert recipe.enabled and recipe.problems == [] and recipe.steps[0].startswith("contact:")
    with pytest.raises(NotFound):
        await ops.set_recipe_enabled(ADMIN, "nope", False)
    with pytest.raises(Forbidden):
        await ops.set_recipe_enabled(VIEWER, recipe.name, False)
    with pytest.raises(Forbidden):
        await ops.pause_connection(VIEWER, "books")
    with pytest.raises(NotFound):
        await ops.pause_connection(ADMIN, "nope")
