"""Browser tests: the pages served by a real uvicorn server, driven by Playwright in Debian's headless Chromium.

The server runs in a subprocess on a free port with its own SQLite database and the demo data (``weijian demo``),
exactly as a newcomer starts it; applicants act on it through the HTTP API. No browser is downloaded: Playwright
drives ``/usr/bin/chromium`` (``WEIJIAN_CHROMIUM`` overrides), which ``scripts/services`` installs. Screenshots go
to ``test-artifacts/screenshots/`` (``WEIJIAN_ARTIFACTS_DIR`` overrides), the directory to keep as a CI artifact.

These tests need no ``backend`` fixture: they run once per suite run, not once per database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

from tests.support.fake_wechat import FakeWeChat

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "browser-Passw0rd"
ARTIFACTS = Path(os.environ.get("WEIJIAN_ARTIFACTS_DIR", REPO / "test-artifacts")) / "screenshots"
# What Chromium needs in a container with a closed network (see docs/architecture.md, "Browser tests"): no sandbox
# as root, no GPU, and none of the background connections to Google that would be refused at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-default-apps",
    "--metrics-recording-only",
]
# Generous waits: CI machines are small and the server's OCR worker competes with the browser for the CPU.
expect.set_options(timeout=20_000)
PHONE = {"width": 390, "height": 844}  # the clerk: a 390×844 phone viewport


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n``, all browser tests go to one worker (``--dist loadgroup``): one demo server and one
    Chromium per suite run, not one per worker, on a machine whose cores the other workers keep busy."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.xdist_group("browser"))


def chromium_path() -> str:
    found = os.environ.get("WEIJIAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError(
            "Chromium not found: run scripts/services (it installs Debian's chromium) or set WEIJIAN_CHROMIUM"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    http: httpx.Client
    _tokens: dict[str, str] = field(default_factory=dict)

    def staff_headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            r = self.http.post("/api/v1/auth/staff-login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[username] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def applicant_headers(self, code: str) -> dict[str, str]:
        r = self.http.post("/api/v1/auth/wechat-login", json={"code": code})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(self, method: str, path: str, headers: dict[str, str], expect: int = 200, **kw: Any) -> Any:
        r = self.http.request(method, f"/api/v1{path}", headers=headers, **kw)
        assert r.status_code == expect, r.text
        return r.json() if r.content else None


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChat) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("browser-var")
    env = {
        **os.environ,
        "WEIJIAN_DATA_DIR": str(data_dir),
        "WEIJIAN_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'weijian.db'}",
        "WEIJIAN_SECRET_KEY": "browser-test-secret",
        "WEIJIAN_DEMO_PASSWORD": PASSWORD,
        "WEIJIAN_WECHAT_APPID": fake_wechat.appid,
        "WEIJIAN_WECHAT_SECRET": fake_wechat.secret,
        "WEIJIAN_WECHAT_API_BASE_URL": fake_wechat.url,
        # The service account too (the staff page's 用微信绑定 needs its message webhook configured).
        "WEIJIAN_WECHAT_MP_APPID": fake_wechat.appid,
        "WEIJIAN_WECHAT_MP_SECRET": fake_wechat.secret,
        "WEIJIAN_WECHAT_MP_TOKEN": "browser-mp-token",
        # Uploads answer at once; the material checks (OCR) finish in the server's worker in the background.
        "WEIJIAN_OCR_UPLOAD_WAIT_SECONDS": "0",
    }
    env.pop("WEIJIAN_REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "mobile_api.cli", "demo"], env=env, cwd=data_dir, check=True, capture_output=True
    )
    port = _free_port()
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "mobile_api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a busy 2-core machine the demo server (NLU warm-up, OCR import) can take a while to listen.
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start; see {data_dir / 'server.log'}")
            time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield LiveServer(url=url, data_dir=data_dir, http=http)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the main thread while it is
# started, which would make every later test's asyncio.run() (the database fixtures) fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=live_server.url, viewport=PHONE, device_scale_factor=1, locale="zh-CN", is_mobile=True, has_touch=True
    )
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def desk(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A second person at a desktop-sized window (the leader, an agent)."""
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1200, "height": 900}, locale="zh-CN")
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def shot(page: Page | Locator, name: str, full_page: bool = True) -> Path:
    """Save a screenshot of a page (or of one element) as a test artifact (test-artifacts/screenshots/<name>.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if isinstance(page, Locator):
        page.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path


def console_errors(page: Page) -> list[str]:
    """Collect the page's JavaScript errors; a test asserts the list stays empty."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # "Failed to load resource" is Chromium reporting an HTTP error status the page itself handles (a refused login).
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors


UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter(el => el.offsetParent !== null && el.type !== 'hidden')
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
    .map(el => el.outerHTML.slice(0, 80))"""


def unlabelled_controls(page: Page) -> list[str]:
    """Visible form controls and buttons that a screen reader could not name (no label, no text)."""
    return list(page.evaluate(UNLABELLED_JS))


def fits(page: Page, width: int) -> None:
    """At ``width`` CSS pixels the page needs no sideways scrolling (the smallest phones are 360 wide)."""
    size = page.viewport_size
    assert size is not None
    page.set_viewport_size({"width": width, "height": size["height"]})
    scroll = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(size)
    assert scroll <= width, f"the page is {scroll}px wide at a {width}px viewport"
