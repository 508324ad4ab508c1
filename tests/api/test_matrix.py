"""The route-by-role matrix: every API route and every dashboard page refuses missing,
wrong and under-privileged credentials, and lets the right role through.

Routes are enumerated from the route table (API) and from the app's router
(dashboard), so a route added without a role, or without an entry in the
examples below, fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hub.api import ROUTES
from hub.auth import TOKENS, Role
from tests.api.conftest import Api, make_api
from tests.helpers import payment_body

ROLES = [Role.VIEWER, Role.OPS, Role.ADMIN]
API_ROLES = {(r.method, r.path): r.role for r in ROUTES}
# Pages whose right-role answer without their usual inputs is not a 200.
PAGE_STATUS = {"/oauth/callback": 400}  # needs the vendor's code and state

# What a right-role call sends, and the status it must get. Path parameters are
# filled from the ids the fixture creates ({event}, {delivery}, ...).
EXAMPLES: dict[tuple[str, str], tuple[dict[str, Any] | None, int]] = {
    ("GET", "/openapi.json"): (None, 200),
    ("GET", "/me"): (None, 200),
    ("GET", "/connections"): (None, 200),
    ("GET", "/connections/{name}"): (None, 200),
    ("PUT", "/connections/{name}"): ({"connector": "zoho_books", "config": {}}, 200),
    ("POST", "/connections/{name}/enable"): (None, 200),
    ("POST", "/connections/{name}/disable"): (None, 200),
    ("POST", "/connections/{name}/test"): (None, 200),
    ("POST", "/connections/{name}/pause"): (None, 200),
    ("POST", "/connections/{name}/resume"): (None, 200),
    ("GET", "/connectors"): (None, 200),
    ("GET", "/connectors/{name}"): (None, 200),
    ("GET", "/recipes"): (None, 200),
    ("GET", "/recipes/{name}"): (None, 200),
    ("POST", "/recipes/{name}/enable"): (None, 200),
    ("POST", "/recipes/{name}/disable"): (None, 200),
    ("POST", "/recipes/{name}/dry-run"): ({"event_id": "{event}"}, 200),
    ("GET", "/events"): (None, 200),
    ("GET", "/events/{id}"): (None, 200),
    ("GET", "/runs/{id}"): (None, 200),
    ("GET", "/deliveries"): (None, 200),
    ("POST", "/deliveries/replay"): ({"status": "succeeded", "preview": True}, 202),
    ("GET", "/deliveries/{id}"): (None, 200),
    ("POST", "/deliveries/{id}/replay"): ({}, 200),
    ("GET", "/jobs"): (None, 200),
    ("GET", "/jobs/{id}"): (None, 200),
    ("POST", "/jobs/{id}/cancel"): (None, 409),  # the fixture's job has finished
    ("GET", "/tokens"): (None, 200),
    ("POST", "/tokens"): ({"name": "made-by-{role}", "role": "viewer"}, 201),
    ("DELETE", "/tokens/{id}"): (None, 200),
    ("GET", "/audit"): (None, 200),
}


@pytest.fixture
async def world(running_hub: Any, http: aiohttp.ClientSession) -> AsyncIterator[dict[str, Any]]:
    """A hub with one delivered payment, a finished job, and ids to fill paths with."""
    running = await running_hub()
    api = await make_api(running, http)
    await running.post(payment_body(1))
    await running.settled(1)
    delivery = (await api.ok("GET", "/deliveries"))["items"][0]
    job = (await api.ok("POST", "/deliveries/replay", json={"status": "dead"}))["job"]
    await running.runner.app[TOKENS].create("spare", Role.VIEWER, "tests")
    recipe = (await api.ok("GET", "/recipes"))["items"][0]["name"]
    yield {
        "api": api,
        "ids": {
            "event": delivery["event_id"],
            "delivery": delivery["id"],
            "run": delivery["run_id"],
            "job": job["id"],
            "recipe": recipe,
        },
    }


def _path(route_path: str, ids: dict[str, str], role: Role) -> str:
    resource = route_path.split("/")[1]
    value = {
        "connections": "books",
        "connectors": "zoho_books",
        "recipes": ids["recipe"],
        "events": ids["event"],
        "runs": ids["run"],
        "deliveries": ids["delivery"],
        "jobs": ids["job"],
        "tokens": f"spare-{role}",
    }.get(resource, "")
    return re.sub(r"\{[^}]+\}", value, route_path)


def _fill(value: Any, ids: dict[str, str], role: Role) -> Any:
    if isinstance(value, str):
        return value.replace("{event}", ids["event"]).replace("{role}", str(role))
    if isinstance(value, dict):
        return {k: _fill(v, ids, role) for k, v in value.items()}
    return value


def test_every_route_has_an_example() -> None:
    table = {(r.method, r.path) for r in ROUTES}
    assert table == set(EXAMPLES), (
        f"routes without an example: {table - set(EXAMPLES)}; stale examples: {set(EXAMPLES) - table}"
    )


async def test_api_route_role_matrix(world: dict[str, Any]) -> None:
    api: Api = world["api"]
    ids: dict[str, str] = world["ids"]
    service = api.running.runner.app[TOKENS]
    for role in ROLES:  # one revocable token per caller role
        await service.create(f"spare-{role}", Role.VIEWER, "tests")
    for route in ROUTES:
        example, expected = EXAMPLES[(route.method, route.path)]
        for caller in ROLES:
            path = _path(route.path, ids, caller)
            body = _fill(example, ids, caller)
            where = f"{route.method} {path} as {caller}"
            missing = await api.call(route.method, path, None, json=body)
            assert missing.status == 401, where
            assert missing.headers["WWW-Authenticate"].startswith("Bearer"), where
            assert missing.body["error"]["code"] == "unauthorized", where
            for bad in ("Bearer hub_deadbeef_nottherealtoken", "Basic YWRtaW46YWRtaW4=", "Bearer"):
                wrong = await api.call(route.method, path, None, json=body, token=bad)
                assert wrong.status == 401, (where, bad)
            reply = await api.call(route.method, path, str(caller), json=body)
            if caller.rank < route.role.rank:
                assert reply.status == 403, (where, reply.text)
                assert reply.body["error"]["code"] == "forbidden", where
            else:
                assert reply.status == expected, (where, reply.text)


# -- the dashboard -------------------------------------------------------------------------------


def _declared_role(handler: Any) -> Role | None:
    """The role a dashboard handler was wrapped with by ``hub.web.access.page``."""
    nonlocals = inspect.getclosurevars(handler).nonlocals
    assert "needed" in nonlocals, f"{handler} is not wrapped by hub.web.access.page"
    needed: Role | None = nonlocals["needed"]
    return needed


def _dashboard_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        if path.startswith(("/api/v1", "/hooks/", "/healthz", "/readyz", "/metrics", "/static")):
            continue
        if info.get("prefix"):
            continue
        out.append((route.method, path, route.handler))
    return out


async def _login(url: str, token: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(f"{url}/login") as resp:
        csrf = _csrf(await resp.text())
    async with session.post(
        f"{url}/login",
        data={"token": token, "csrf_token": csrf, "next": "/"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303, await resp.text()
    return session


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def test_dashboard_page_role_matrix(world: dict[str, Any]) -> None:
    api: Api = world["api"]
    ids: dict[str, str] = world["ids"]
    app = api.running.runner.app
    routes = _dashboard_routes(app)
    assert any(path == "/" for _m, path, _h in routes), "hub serve must mount the dashboard"
    url = api.running.url
    sessions = {role: await _login(url, api.tokens[str(role)]) for role in ROLES}
    anonymous = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        for method, template, handler in routes:
            needed = _declared_role(handler)
            if needed is None:
                continue  # the login form and logout: open to anyone by design
            # A page sharing a handler across actions (pause/enable/...) may declare the
            # lowest role and let Ops refuse the rest: the API's role for the same action rules.
            twin = API_ROLES.get((method, template))
            if twin is not None and twin.rank > needed.rank:
                needed = twin
            path = _page_path(template, ids)
            where = f"{method} {path}"
            if method == "GET":
                async with anonymous.get(url + path, allow_redirects=False) as resp:
                    assert resp.status == 303 and "/login" in resp.headers["Location"], where
                async with anonymous.get(
                    url + path, allow_redirects=False, cookies={"hub_session": "forged"}
                ) as resp:
                    assert resp.status == 303, where
                async with anonymous.get(
                    url + path,
                    allow_redirects=False,
                    headers={"Authorization": f"Bearer {api.tokens['admin']}"},
                ) as resp:
                    assert resp.status == 303, f"{where}: pages take no bearer tokens"
            else:
                async with anonymous.post(url + path, data={}, allow_redirects=False) as resp:
                    assert resp.status in (303, 403), where
            for role in ROLES:
                session = sessions[role]
                if method == "GET":
                    async with session.get(url + path, allow_redirects=False) as resp:
                        status = resp.status
                        if status in (302, 303):  # sent on (a chooser, OAuth), not to log in
                            assert "/login" not in resp.headers["Location"], (where, role)
                            status = 200
                else:
                    async with session.get(url + "/", allow_redirects=False) as page:
                        csrf = _csrf(await page.text())
                    async with session.post(
                        url + path, data={"csrf_token": csrf}, allow_redirects=False
                    ) as resp:
                        status = resp.status
                if role.rank < needed.rank:
                    assert status == 403, (where, role)
                elif method == "GET":
                    assert status == PAGE_STATUS.get(template, 200), (where, role, status)
                else:
                    assert status != 403, (where, role, status)
    finally:
        await anonymous.close()
        for session in sessions.values():
            await session.close()


def _page_path(template: str, ids: dict[str, str]) -> str:
    resource = template.split("/")[1]
    value = {
        "connections": "books",
        "recipes": ids["recipe"],
        "events": ids["event"],
        "deliveries": ids["delivery"],
        "jobs": ids["job"],
        "runs": ids["run"],
    }.get(resource, "x")
    return re.sub(r"\{[^}]+\}", value, template)
