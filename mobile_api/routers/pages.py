"""The pages people use on their phones: the staff task view (/m/staff/) and the agent console (/m/agent/).

Small static apps (HTML, CSS and plain JavaScript under mobile_api/static/m) that call the same JSON API with
the same bearer token, so a page can do exactly what the API lets its user do. Everything is served from here:
no CDN (government intranets), no build step."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "m"

# Scripts and styles from this origin only (no inline script: an injected string cannot run); the WebSocket
# and fetch() go back to the same host. Material previews are blob: URLs made from authorised downloads.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self' ws: wss:; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@cache
def _page(name: str) -> bytes:
    return (STATIC_DIR / f"{name}.html").read_bytes()


def _html(name: str) -> Response:
    return Response(_page(name), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/m/staff/")
async def staff_page() -> Response:
    return _html("staff")


@router.get("/m/agent/")
async def agent_page() -> Response:
    return _html("agent")


@router.get("/m/staff")
async def _staff_slash() -> RedirectResponse:
    return RedirectResponse("/m/staff/", status_code=308)


@router.get("/m/agent")
async def _agent_slash() -> RedirectResponse:
    return RedirectResponse("/m/agent/", status_code=308)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/m/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="m-assets")
