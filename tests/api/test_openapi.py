"""The OpenAPI document is valid 3.1, served, and describes exactly the routes that are served."""

from __future__ import annotations

import jsonschema
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hub.api import ROUTES, openapi_document
from tests.api.conftest import Api
from tests.helpers import payment_body


def test_generated_document_is_valid_openapi_3_1() -> None:
    doc = openapi_document(ROUTES)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    ops = [op for path in doc["paths"].values() for op in path.values()]
    assert len(ops) == len(ROUTES)
    assert len({op["operationId"] for op in ops}) == len(ops)
    for route in ROUTES:
        op = doc["paths"][route.full_path][route.method.lower()]
        assert op["x-required-role"] == str(route.role)
        assert {"401", "403"} <= set(op["responses"])
        assert str(route.status) in op["responses"]


async def test_served_document_matches_the_served_routes(api: Api) -> None:
    served = await api.ok("GET", "/openapi.json", role="viewer")
    assert served == openapi_document(ROUTES)
    registered = {
        (route.method, info.get("path") or info.get("formatter"))
        for route in api.running.runner.app.router.routes()
        if (info := route.resource.get_info() if route.resource else {})
        and str(info.get("path") or info.get("formatter") or "").startswith("/api/v1")
        and route.method != "HEAD"
    }
    documented = {(m.upper(), p) for p, ops in served["paths"].items() for m in ops}
    assert registered == documented


async def test_responses_match_their_documented_schemas(api: Api) -> None:
    """Spot-check the wire against the document with an independent validator."""
    await api.running.post(payment_body(1))
    await api.running.settled(1)
    doc = await api.ok("GET", "/openapi.json")
    delivery = (await api.ok("GET", "/deliveries"))["items"][0]
    checks = {
        "/deliveries": "/api/v1/deliveries",
        f"/deliveries/{delivery['id']}": "/api/v1/deliveries/{id}",
        f"/runs/{delivery['run_id']}": "/api/v1/runs/{id}",
        f"/events/{delivery['event_id']}": "/api/v1/events/{id}",
        "/events/nope": "/api/v1/events/{id}",
        "/connections": "/api/v1/connections",
        "/connectors/zoho_books": "/api/v1/connectors/{name}",
        "/recipes": "/api/v1/recipes",
        "/tokens": "/api/v1/tokens",
    }
    for path, template in checks.items():
        reply = await api.get(path)
        response = doc["paths"][template]["get"]["responses"][str(reply.status)]
        _validate(reply.body, response["content"]["application/json"]["schema"], doc)
    unknown = await api.get("/nope")
    assert unknown.status == 404
    _validate(unknown.body, {"$ref": "#/components/schemas/ErrorBody"}, doc)
    wrong = await api.get("/deliveries", params={"limit": "x"})
    _validate(wrong.body, {"$ref": "#/components/schemas/ErrorBody"}, doc)
    bogus = dict(wrong.body)
    bogus["error"] = {"code": 1}
    try:
        _validate(bogus, {"$ref": "#/components/schemas/ErrorBody"}, doc)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the validator accepts anything")


def _validate(body: object, ref: dict[str, str], doc: dict[str, object]) -> None:
    resource = Resource(contents=doc, specification=DRAFT202012)
    registry: Registry[object] = Registry().with_resource("urn:openapi", resource)
    schema = {"$ref": "urn:openapi" + ref["$ref"]}
    jsonschema.Draft202012Validator(schema, registry=registry).validate(body)
