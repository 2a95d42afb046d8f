"""我的 on the staff page: a staff member on a phone gives the contacts their reminders should reach and chooses the
channels; a wrong number is refused beside its field in Chinese, and what was saved is what the API holds."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import LiveServer, console_errors, fits, shot, unlabelled_controls
from tests.browser.test_staff_pages import log_in


def test_a_staff_member_sets_their_contacts_and_channels_on_a_phone(
    live_server: LiveServer, phone: BrowserContext
) -> None:
    page = phone.new_page()
    errors = console_errors(page)
    log_in(page, "zhizheng")
    page.get_by_role("button", name="我的").click()
    expect(page.get_by_role("heading", name=re.compile("我的联系方式"))).to_be_visible()
    expect(page.get_by_label("按各类提醒的默认方式", exact=False)).to_be_checked()
    expect(page.get_by_label("短信", exact=True)).to_be_disabled()

    page.get_by_label("手机号码", exact=False).fill("020-12345678")
    page.get_by_label("电子邮箱", exact=False).fill("zhizheng@wsjkw.example.cn")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#me-phone-err")).to_contain_text("11位手机号码")
    expect(page.locator("#me-phone")).to_be_focused()

    page.get_by_label("手机号码", exact=False).fill("138 0013 8003")
    page.get_by_label("按各类提醒的默认方式", exact=False).uncheck()
    page.get_by_label("微信服务号", exact=True).uncheck()
    page.get_by_label("电子邮件", exact=True).uncheck()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_have_text("已保存")
    expect(page.get_by_label("手机号码", exact=False)).to_have_value("13800138003")
    expect(page.get_by_label("短信", exact=True)).to_be_checked()
    fits(page, 360)
    assert unlabelled_controls(page) == []
    shot(page, "staff-my-contacts")

    me = live_server.staff_headers("zhizheng")
    saved = live_server.call("GET", "/staff/me?reveal=true", me)["contacts"]
    assert saved == {
        "phone": "13800138003",
        "email": "zhizheng@wsjkw.example.cn",
        "wechat_mp_openid": None,
        "masked": False,
    }
    assert live_server.call("GET", "/staff/me/notifications", me)["channels"] == ["sms"]

    # The service-account openid is bound from WeChat: the page shows the message to send.
    page.get_by_role("button", name="用微信绑定").click()
    expect(page.locator("#me-bind-out")).to_contain_text("5分钟内")
    expect(page.locator("#me-bind-out strong")).to_have_text(re.compile(r"^绑定 \d{8}$"))
    fits(page, 360)
    assert errors == []
