"""The hottest routes are matched before all others (``mobile_api.hot``); none of them may catch a request meant
for a route behind it."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import compile_path

from case_core.settings import Settings
from mobile_api.app import create_app
from mobile_api.routers import cases, staff


def _leaves(routes: list[Any]) -> list[tuple[str, frozenset[str]]]:
    out: list[tuple[str, frozenset[str]]] = []
    for r in routes:
        methods = getattr(r, "methods", None)
        if methods and getattr(r, "path", None):
            out.append((r.path, frozenset(methods)))
    return out


def _example(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_no_route_is_shadowed_by_a_hot_route_matched_before_it() -> None:
    app = create_app(Settings(_env_file=None, secret_key="routes-test"))
    hot = {(f"/api/v1{p}", m) for p, m in _leaves([*cases.hot_router.routes, *staff.hot_router.routes])}
    assert len(hot) == 4
    # Every documented route, wherever it is nested (the OpenAPI schema flattens the included routers).
    documented = [(p, frozenset(m.upper() for m in ops)) for p, ops in app.openapi()["paths"].items()]
    others = [(p, m) for p, m in documented if p not in {h for h, _ in hot}]
    assert len(others) > 50  # the whole API, not just the hot part
    # The check can catch a shadowed route: a one-segment literal behind GET /api/v1/cases/{case_id} would be.
    assert compile_path("/api/v1/cases/{case_id}")[0].match(_example("/api/v1/cases/reusable"))
    for hot_path, hot_methods in hot:
        regex = compile_path(hot_path)[0]
        for path, methods in others:
            if hot_methods & methods:
                assert not regex.match(_example(path)), f"{hot_path} would catch {path}"


def test_the_hot_routes_are_dispatched_first_and_still_documented() -> None:
    app = create_app(Settings(_env_file=None, secret_key="routes-test"))
    hot = {(f"/api/v1{p}", m) for p, m in _leaves([*cases.hot_router.routes, *staff.hot_router.routes])}
    first = [(path, methods - {"HEAD"}) for path, methods in _leaves(app.router.routes[: len(hot)])]
    assert set(first) == hot
    paths = app.openapi()["paths"]
    detail = paths["/api/v1/cases/{case_id}"]["get"]
    assert [p["name"] for p in detail["parameters"]] == ["case_id"]
    tasks = paths["/api/v1/staff/tasks"]["get"]
    assert {"view", "light", "item_code", "q"} <= {p["name"] for p in tasks["parameters"]}


async def test_the_hot_routes_answer_errors_in_the_api_shape(client: Any) -> None:
    refused = await client.get("/api/v1/cases/1")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    wrong_method = await client.put("/api/v1/cases/1/submit")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_fastapis_telemetry_is_on_only_when_configured() -> None:
    off = create_app(Settings(_env_file=None, secret_key="routes-test"))
    on = create_app(Settings(_env_file=None, secret_key="routes-test", telemetry=True))
    assert not any(off._telemetry[k] for k in ("tracing", "metrics", "logs"))
    assert all(on._telemetry[k] for k in ("tracing", "metrics", "logs"))
