"""The pages and their assets come from the backend itself, with a policy that lets no other origin's script in."""

from __future__ import annotations

import re

from mobile_api.routers.pages import STATIC_DIR
from tests.browser.conftest import LiveServer


def test_pages_and_assets_are_served_without_any_other_origin(live_server: LiveServer) -> None:
    for path in ("/m/staff/", "/m/agent/"):
        r = live_server.http.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert 'lang="zh-CN"' in r.text and 'name="viewport"' in r.text
        for asset in re.findall(r'(?:src|href)="(/m/assets/[^"]+)"', r.text):
            assert live_server.http.get(asset).status_code == 200, asset
    assert live_server.http.get("/m/staff", follow_redirects=False).headers["location"] == "/m/staff/"
    assert live_server.http.get("/m/assets/../staff.html").status_code == 404


def test_no_asset_refers_to_a_remote_url() -> None:
    # Deployments sit on government intranets: nothing may be fetched from a CDN.
    for f in STATIC_DIR.rglob("*"):
        if f.is_file():
            assert not re.search(r"https?://", f.read_text(encoding="utf-8")), f
