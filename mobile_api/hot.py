"""The hottest routes (case detail, submit, the staff task list and case) take the ``Request`` alone and read the
caller, the path and the query from it here.

Why: FastAPI solves each declared dependency and parameter per request, about 0.2 ms on this machine for the
task list's signature — as much as its whole database read. These helpers do the same checks with the same error
shapes (401 ``unauthenticated``, 422 ``request_invalid`` from the same handler), and ``openapi`` documents the
parameters as FastAPI would, so the API's description stays complete.

``dispatch_routes`` goes one step further: Starlette, not FastAPI, dispatches these routes. FastAPI (0.165) keeps
an included router as a nested route that it matches once to select and again to handle, per level, and runs its
request handler (dependency solving, even for none) around the endpoint: together more CPU than the submit
endpoint itself (``python -m bench.profile --pyinstrument submit --show-all``). The same routes stay in a FastAPI
router too, behind the plain ones and never reached, so that ``/openapi.json`` documents them. Errors raised in
the endpoints reach the app's exception handlers either way (they sit in Starlette's exception middleware).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import Route

from case_core.principals import ApplicantPrincipal, StaffPrincipal
from mobile_api.deps import AppState, app_state, bearer

Q = TypeVar("Q", bound=BaseModel)


def caller_staff(request: Request) -> tuple[AppState, StaffPrincipal, datetime]:
    state = app_state(request)
    return state, state.tokens.staff(bearer(request)), state.clock()


def caller_applicant(request: Request) -> tuple[AppState, ApplicantPrincipal, datetime]:
    state = app_state(request)
    return state, state.tokens.applicant(bearer(request)), state.clock()


def path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 18:
        raise RequestValidationError([{"loc": ("path", name), "msg": "应为整数", "type": "int_parsing"}])
    return int(raw)


def query(model: type[Q], request: Request) -> Q:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None


def openapi(path: tuple[str, ...] = (), query_model: type[BaseModel] | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a hot route: its integer path parameters and its query model, as parameters."""
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}} for name in path
    ]
    if query_model is not None:
        schema = query_model.model_json_schema()
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return {"parameters": params}


def dispatch_routes(prefix: str, *routers: APIRouter) -> list[Route]:
    """Plain Starlette routes for the hot routers' endpoints, to be put first in the app's route table."""
    return [
        Route(prefix + r.path, r.endpoint, methods=sorted(r.methods or ()), name=r.name, include_in_schema=False)
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute)
    ]
