"""The OpenAPI schema of the real app, walked route by route: every route says what it
does, every route not on the public list refuses a request without credentials, and the
JSON API shows an example of each body it takes and each answer it gives, true to the
answers it really sends.

Generic on purpose: a route added tomorrow is checked without anyone touching this file,
and it is private unless someone adds it to PUBLIC below."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient
from tests.recorded import recorded_store

TOKEN = "openapi-token"

# Routes anyone may call: (method, full-match pattern of the path template). Everything
# else must refuse a request without credentials.
PUBLIC = [
    ("GET", r"/healthz"),
    ("*", r"/status(/.*)?"),
    ("*", r"/badge/.*"),
    ("POST", r"/api/v1/reports"),
    ("*", r"/login(/.*)?"),
    ("*", r"/static/.*"),
    ("*", r"/push/.*"),  # a push monitor's secret is in its URL: that is the credential
]

# What "refused" looks like: 401 for the API, a redirect to the login page for pages.
REFUSED = {401, 303, 307}

# Path parameters filled with plausible values, by name, else by type.
PLAUSIBLE = {"name": "shop", "monitor": "shop", "slug": "main", "incident_id": "1", "id": "1", "token_id": "1"}
BY_TYPE = {"integer": "1", "number": "1", "boolean": "true", "string": "shop"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return any(m in ("*", self.method) and re.fullmatch(p, self.path) for m, p in PUBLIC)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    store = recorded_store(tmp_path_factory.mktemp("openapi"))
    yield create_app(WebContext(store, TOKEN))
    store.close()


@pytest.fixture(scope="module")
def schema(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(schema: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, methods in schema["paths"].items()
        for method, spec in methods.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` (and the one level of `allOf` FastAPI wraps it in)."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return resolve(schema, schema["components"]["schemas"][name])
    if len(node.get("allOf", [])) == 1:
        return resolve(schema, node["allOf"][0])
    return node


def filled_path(op: Operation) -> str:
    params = {p["name"]: p for p in op.spec.get("parameters", []) if p["in"] == "path"}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        kind = params.get(name, {}).get("schema", {}).get("type", "string")
        return PLAUSIBLE.get(name, BY_TYPE.get(kind, "shop"))

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, op.path)


def required_query(op: Operation) -> dict[str, str]:
    return {
        p["name"]: BY_TYPE.get(p.get("schema", {}).get("type", "string"), "shop")
        for p in op.spec.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


def example_of(schema: dict[str, Any], content: dict[str, Any]) -> Any:
    """The example a content entry shows, in whichever of OpenAPI's places it sits."""
    if "example" in content:
        return content["example"]
    if content.get("examples"):
        return next(iter(content["examples"].values())).get("value")
    node = resolve(schema, content.get("schema", {}))
    if node.get("type") == "array" and "items" in node:
        item = resolve(schema, node["items"])
        return [item["examples"][0]] if item.get("examples") else None
    if node.get("examples"):
        return node["examples"][0]
    return node.get("example")


def minimal_body(schema: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """The body's example, else its required fields with a value of their type."""
    example = example_of(schema, content)
    if isinstance(example, dict):
        return example
    node = resolve(schema, content.get("schema", {}))
    types = {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    return {name: types.get(node["properties"][name].get("type", ""), "x") for name in node.get("required", [])}


def anonymous_request(client: AppClient, schema: dict[str, Any], op: Operation) -> Any:
    """The operation called as someone with no token, no cookie, a plausible body."""
    kwargs: dict[str, Any] = {"params": required_query(op), "follow_redirects": False}
    body = op.spec.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        kwargs["json"] = minimal_body(schema, body["application/json"])
    elif body:
        form = next(iter(body.values()))
        kwargs["data"] = {k: str(v) for k, v in minimal_body(schema, form).items()}
    return client.request(op.method, filled_path(op), **kwargs)


def ids(ops: list[Operation]) -> list[str]:
    return [str(op) for op in ops]


def test_the_schema_lists_the_contracts_routes(schema):
    listed = {str(op) for op in operations(schema)}
    contract = [
        "GET /api/v1/monitors",
        "GET /api/v1/monitors/{name}/results",
        "GET /api/v1/incidents",
        "GET /api/v1/certificates",
        "GET /metrics",
        "GET /healthz",
    ]
    assert set(contract) <= listed, sorted(set(contract) - listed)


def test_every_route_has_a_summary_written_for_it(app):
    """FastAPI makes one up from the function's name when none is given: that does not count."""
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]
    assert routes
    missing = [f"{sorted(r.methods)} {r.path}" for r in routes if not (r.summary or "").strip()]
    assert not missing, f"routes without a summary: {missing}"


def test_every_private_route_refuses_a_request_without_credentials(app, schema):
    client = AppClient(app)
    private = [op for op in operations(schema) if not op.public]
    assert private
    served = {}
    for op in private:
        response = anonymous_request(client, schema, op)
        redirect = response.headers.get("location", "")
        if response.status_code not in REFUSED or (response.status_code != 401 and not redirect.startswith("/login")):
            served[str(op)] = f"{response.status_code} {response.text[:80]!r}"
    assert not served, f"answered without credentials: {served}"


def test_the_public_routes_answer_without_credentials(app, schema):
    client = AppClient(app)
    refused = {}
    for op in (op for op in operations(schema) if op.public):
        response = anonymous_request(client, schema, op)
        if response.status_code in REFUSED:
            refused[str(op)] = response.status_code
    assert not refused, f"listed as public, but refused: {refused}"


def api_operations(schema: dict[str, Any]) -> list[Operation]:
    return [op for op in operations(schema) if op.path.startswith("/api/v1/")]


def test_every_api_request_body_shows_an_example(schema):
    missing = [
        str(op)
        for op in api_operations(schema)
        if "application/json" in op.spec.get("requestBody", {}).get("content", {})
        and example_of(schema, op.spec["requestBody"]["content"]["application/json"]) is None
    ]
    assert not missing, f"request bodies without an example: {missing}"


def successes(op: Operation) -> Iterator[tuple[str, dict[str, Any]]]:
    for code in ("200", "201"):
        content = op.spec["responses"].get(code, {}).get("content", {})
        if "application/json" in content:
            yield code, content["application/json"]


def test_every_api_answer_shows_an_example(schema):
    missing = [
        f"{op} -> {code}"
        for op in api_operations(schema)
        for code, content in successes(op)
        if example_of(schema, content) is None
    ]
    assert not missing, f"answers without an example: {missing}"


def keys_of(value: Any) -> set[str]:
    """The keys of an object, or of a list's first object."""
    if isinstance(value, list):
        value = value[0] if value else {}
    return set(value) if isinstance(value, dict) else set()


def test_every_api_example_names_only_keys_the_real_answer_has(app, schema):
    """Examples that promise a key the API does not send mislead; checked against the
    answers of a store with a few recorded verdicts (read-only routes only)."""
    client = AppClient(app, headers={"authorization": f"Bearer {TOKEN}"})
    wrong = {}
    for op in (op for op in api_operations(schema) if op.method == "GET"):
        response = client.get(filled_path(op), params=required_query(op))
        for code, content in successes(op):
            if response.status_code != int(code) or not keys_of(response.json()):
                continue
            extra = keys_of(example_of(schema, content)) - keys_of(response.json())
            if extra:
                wrong[str(op)] = sorted(extra)
    assert not wrong, f"examples with keys the answer lacks: {wrong}"


def test_the_schema_is_served_to_people_at_api_openapi_json(app, schema):
    response = AppClient(app).get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == schema["paths"].keys()


def test_plausible_values_fill_every_path_parameter(schema):
    assert all("{" not in filled_path(op) for op in operations(schema))


def test_the_public_list_is_matched_exactly():
    spec: dict[str, Any] = {}
    assert Operation("GET", "/status/main/summary.json", spec).public
    assert Operation("POST", "/api/v1/reports", spec).public
    assert not Operation("GET", "/api/v1/reports", spec).public
    assert not Operation("GET", "/statusx", spec).public
    assert not Operation("GET", "/api/v1/status", spec).public
