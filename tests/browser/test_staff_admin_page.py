"""账号管理 on the staff page: an admin on a phone creates an account and reads its generated password once; the new
colleague must choose their own password before anything else opens; the admin disables the account and the
colleague's open page is signed out at its next request."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import LiveServer, console_errors, fits, shot, unlabelled_controls
from tests.browser.test_staff_pages import log_in


def test_an_admin_creates_an_account_and_the_colleague_must_choose_a_password_first(
    live_server: LiveServer, phone: BrowserContext, desk: BrowserContext
) -> None:
    admin = phone.new_page()
    errors = console_errors(admin)
    log_in(admin, "admin")
    admin.get_by_role("button", name="我的").click()
    admin.get_by_role("button", name="账号管理").click()
    expect(admin.get_by_role("heading", name="账号管理")).to_be_visible()
    expect(admin.locator("li.account[data-username='shenhe']")).to_be_visible()

    admin.get_by_role("button", name="新建账号").click()
    admin.get_by_label("用户名").fill("xinren")
    admin.get_by_label("姓名").fill("新同事")
    admin.get_by_label("受理", exact=True).check()
    admin.get_by_role("button", name="创建").click()
    once = admin.locator("#once-password .secret")
    expect(once).to_be_visible()
    temporary = once.inner_text().strip()
    expect(admin.locator("li.account[data-username='xinren']")).to_contain_text("待修改密码")
    fits(admin, 360)
    assert unlabelled_controls(admin) == []
    shot(admin, "staff-admin-accounts")

    colleague = desk.new_page()
    colleague_errors = console_errors(colleague)
    colleague.goto("/m/staff/")
    colleague.get_by_label("用户名").fill("xinren")
    colleague.get_by_label("密码").fill(temporary)
    colleague.get_by_role("button", name="登录").click()
    expect(colleague.get_by_role("heading", name="修改密码")).to_be_visible()
    colleague.get_by_label("管理员提供的密码").fill(temporary)
    colleague.get_by_label("新密码", exact=True).fill("abcdefgh")
    colleague.get_by_label("再次输入新密码").fill("abcdefgh")
    colleague.get_by_role("button", name="确认修改").click()
    expect(colleague.locator("#pw-err")).to_contain_text("过于简单")
    colleague.get_by_label("新密码", exact=True).fill("Chunfeng-2026!")
    colleague.get_by_label("再次输入新密码").fill("Chunfeng-2026!")
    colleague.get_by_role("button", name="确认修改").click()
    expect(colleague.get_by_role("tab", name=re.compile("待办"))).to_be_visible()

    admin.locator("li.account[data-username='xinren']").get_by_role("button", name="停用").click()
    admin.get_by_role("button", name="确认").click()
    expect(admin.locator("li.account[data-username='xinren']")).to_contain_text("已停用")
    colleague.reload()  # its next request: the token stopped with the account
    expect(colleague.get_by_role("heading", name="工作人员登录")).to_be_visible()
    r = live_server.http.post("/api/v1/auth/staff-login", json={"username": "xinren", "password": "Chunfeng-2026!"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"
    assert errors == [] and colleague_errors == []
