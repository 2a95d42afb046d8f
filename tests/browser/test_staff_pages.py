"""The staff task view in a real browser: a clerk on a phone sends a one-time supplementation notice, the applicant
supplements through the API, the clerk accepts, a reviewer batch-approves, a leader signs, the licence is issued."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect
from stdnum.cn import ric

from ocr.samples import TEST_FONTS, Sample, available_fonts, make_sample
from tests.browser.conftest import PASSWORD, LiveServer, console_errors, fits, shot, unlabelled_controls
from tests.support import images
from tests.support.api import ITEM, value_for


def id_card_sample() -> Sample:
    """A rendered 样本 ID card (the OCR capability's generator), read for real by the server's OCR worker."""
    fonts = available_fonts(TEST_FONTS)
    samples = (make_sample("resident_id_card/front", random.Random(seed), fonts=fonts, rotate=0) for seed in range(50))
    # One whose number the form accepts (GB 11643 with a region code python-stdnum knows).
    return next(s for s in samples if ric.is_valid(s.fields["id_number"]))


def submitted_case(
    server: LiveServer,
    who: dict[str, str],
    code: str = ITEM,
    *,
    form: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """An applicant files a complete application through the API (blank scans unless ``files`` has one)."""
    item = server.call("GET", f"/items/{code}", who)
    case = server.call("POST", "/cases", who, expect=201, json={"item_code": code})
    values = {f["key"]: value_for(f) for f in item["form"]["fields"]} | (form or {})
    delivery = {"material_submission": item["submission_methods"][0], "pickup": item["delivery_methods"][0]}
    server.call("PATCH", f"/cases/{case['id']}", who, json={"form": values, "delivery": delivery})
    for m in item["materials"]:
        if m["required"]:
            server.call(
                "POST",
                f"/cases/{case['id']}/materials",
                who,
                expect=201,
                data={"material_type": m["material_id"]},
                files={"file": ("scan.jpg", (files or {}).get(m["material_id"]) or images.jpeg(), "image/jpeg")},
            )
    return server.call("POST", f"/cases/{case['id']}/submit", who)


def settled(server: LiveServer, case_id: int, timeout: float = 120) -> dict[str, dict[str, Any]]:
    """Wait until the background material checks (OCR) of a case have finished; their results by material type.

    A finished check updates the case (its material list), so a page showing the case from before would be told
    the case changed (409) when acting on it: the scenario waits for the checks the way a clerk would see them."""
    deadline = time.monotonic() + timeout
    while True:
        detail = server.call("GET", f"/staff/cases/{case_id}", server.staff_headers("shouli"))
        checks = {m["material_type"]: m.get("check") or {} for m in detail["materials"]}
        if all(c.get("status") not in (None, "pending") for c in checks.values()) or time.monotonic() > deadline:
            return checks
        time.sleep(0.5)


def log_in(page: Page, username: str) -> None:
    page.goto("/m/staff/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("tab", name=re.compile("待办"))).to_be_visible()


def open_case(page: Page, serial: str) -> None:
    page.locator(f"li[data-serial='{serial}'] a.task").click()
    expect(page.locator("#case-serial")).to_have_text(serial)


def act(page: Page, label: str, text: str | None = None) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    if text is not None:
        page.locator("#act-text").fill(text)
    page.locator("#act-confirm").click()


def test_a_case_from_supplementation_to_licence_on_phones(
    live_server: LiveServer, phone: BrowserContext, desk: BrowserContext
) -> None:
    alice = live_server.applicant_headers("browser-alice")
    card = id_card_sample()
    # The applicant typed another name than the one on the ID card scan she uploaded.
    typed = {"applicant_name": "王小明", "id_number": card.form["id_number"]}
    case = submitted_case(live_server, alice, form=typed, files={"resident_id_card": card.image})
    serial = case["serial_no"]

    # The clerk, on a 390×844 phone: logs in, finds the new application in 待办.
    clerk = phone.new_page()
    errors = console_errors(clerk)
    clerk.goto("/m/staff/")
    expect(clerk.get_by_role("heading", name="工作人员登录")).to_be_visible()
    shot(clerk, "staff-login")
    clerk.get_by_label("用户名").fill("shouli")
    clerk.get_by_label("密码").fill("wrong-password")
    clerk.get_by_role("button", name="登录").click()
    expect(clerk.get_by_role("alert")).to_contain_text("密码")
    clerk.get_by_label("密码").fill(PASSWORD)
    clerk.get_by_role("button", name="登录").click()
    todo_tab = clerk.get_by_role("tab", name=re.compile("待办"))
    expect(todo_tab).to_have_attribute("aria-selected", "true")
    expect(todo_tab.locator(".count")).to_have_text("1")
    expect(clerk.locator("#who")).to_have_text("收件受理员")
    expect(clerk.locator(f"li[data-serial='{serial}']")).to_contain_text("医师执业注册")
    fits(clerk, 360)
    assert unlabelled_controls(clerk) == []

    # A new application arrives while the list is open: it appears without a reload (WebSocket push).
    expect(clerk.locator("#live")).to_have_attribute("data-connected", "1")
    clerk.evaluate("window.__sameDocument = true")
    bob = live_server.applicant_headers("browser-bob")
    other = submitted_case(live_server, bob)
    expect(clerk.locator(f"li.fresh[data-serial='{other['serial_no']}']")).to_be_visible()
    expect(todo_tab.locator(".count")).to_have_text("2")
    expect(clerk.locator(".toast")).to_contain_text(other["serial_no"])
    assert clerk.evaluate("window.__sameDocument") is True
    shot(clerk, "staff-tasks-clerk")

    # The clerk sees exactly the intake actions: no approval. Beside the form: what OCR read from the ID card.
    assert settled(live_server, case["id"])["resident_id_card"].get("status") == "done"
    open_case(clerk, serial)
    id_card = clerk.locator(".material[data-material-type='resident_id_card']")
    expect(id_card.locator("tr[data-field='name'][data-match='false'] td.mismatch")).to_have_text(
        re.compile(re.escape(card.fields["name"]))
    )
    expect(id_card.locator("tr[data-field='name'] td").last).to_have_text("王小明")
    expect(id_card.locator("li[data-code='name_mismatch']")).to_be_visible()
    expect(id_card.locator("tr[data-field='id_number']")).to_have_attribute("data-match", "true")
    shot(id_card, "staff-ocr-beside-form")
    expect(clerk.locator("#case-status")).to_have_text("已提交")
    buttons = clerk.locator(".actions button")
    expect(buttons).to_have_count(3)
    assert sorted(buttons.evaluate_all("els => els.map(e => e.dataset.action)")) == [
        "accept",
        "not_accept",
        "request_supplement",
    ]
    fits(clerk, 360)
    assert unlabelled_controls(clerk) == []
    shot(clerk, "staff-case-detail")

    # One notice with every defect: tick two materials, write what is wrong with each.
    clerk.get_by_role("button", name="一次性告知补正").click()
    clerk.locator("#act-confirm").click()
    expect(clerk.locator("#action-panel [role=alert]")).to_contain_text("至少勾选一项")
    clerk.get_by_label("健康体检证明（体检报告）", exact=True).check()
    clerk.locator("#act-confirm").click()
    expect(clerk.locator("#action-panel [role=alert]")).to_contain_text("写明需要补正的原因")
    clerk.get_by_label("健康体检证明（体检报告）的补正原因").fill("体检报告已超过6个月，请提供近6个月内的报告")
    clerk.get_by_label("聘用证明（劳动合同）", exact=True).check()
    clerk.get_by_label("聘用证明（劳动合同）的补正原因").fill("聘用证明未加盖单位公章")
    assert unlabelled_controls(clerk) == []
    fits(clerk, 360)
    shot(clerk, "staff-supplement-notice")
    shot(clerk.locator("#action-panel"), "staff-supplement-form")
    clerk.locator("#act-confirm").click()
    expect(clerk.locator("#case-status")).to_have_text("待补正")
    expect(clerk.get_by_role("status").first).to_contain_text("一次性告知补正")
    expect(clerk.locator(".actions button")).to_have_count(0)

    # The applicant gets one notice with both defects, supplements and resubmits (through the API).
    mine = live_server.call("GET", f"/cases/{case['id']}", alice)
    notice = mine["notices"][-1]
    assert notice["kind"] == "supplement"
    assert {d.get("material_type") for d in notice["defects"]} == {"health_check_report", "employment_proof"}
    for material in ("health_check_report", "employment_proof"):
        live_server.call(
            "POST",
            f"/cases/{case['id']}/materials",
            alice,
            expect=201,
            data={"material_type": material},
            files={"file": ("new.jpg", images.jpeg(text="NEW"), "image/jpeg")},
        )
    assert live_server.call("POST", f"/cases/{case['id']}/submit", alice)["status"] == "submitted"
    settled(live_server, case["id"])
    settled(live_server, other["id"])

    # Back in the list the case waits again; the clerk accepts it with an opinion.
    clerk.get_by_role("link", name="返回任务列表").click()
    open_case(clerk, serial)
    act(clerk, "受理", "材料齐全，予以受理")
    expect(clerk.locator("#case-status")).to_have_text("已受理")
    expect(clerk.locator(".light")).to_have_attribute("data-light", re.compile("green|yellow"))
    expect(clerk.locator("ol.timeline")).to_contain_text("材料齐全，予以受理")

    # The reviewer batch-approves this case and a second one, from the phone list.
    live_server.call(
        "POST", f"/staff/cases/{other['id']}/actions", live_server.staff_headers("shouli"), json={"action": "accept"}
    )
    reviewer = phone.new_page()
    errors += console_errors(reviewer)
    log_in(reviewer, "shenhe")
    for s in (serial, other["serial_no"]):
        row = reviewer.locator(f"li[data-serial='{s}']")
        expect(row.locator(".light")).to_be_visible()
        row.get_by_role("checkbox").check()
    expect(reviewer.locator("#batchbar")).to_contain_text("已选 2 件")
    shot(reviewer, "staff-batch-approve")
    reviewer.get_by_role("button", name="批量审批通过").click()
    expect(reviewer.locator(".toast")).to_contain_text("成功 2 件")
    expect(reviewer.locator(f"li[data-serial='{serial}']")).to_have_count(0)
    reviewer.get_by_role("tab", name=re.compile("已办")).click()
    expect(reviewer.locator(f"li[data-serial='{serial}']")).to_be_visible()

    # The leader signs (on a desktop window), the licence maker issues the licence and concludes.
    leader = desk.new_page()
    errors += console_errors(leader)
    log_in(leader, "qianpi")
    open_case(leader, serial)
    expect(leader.locator("#case-status")).to_have_text("已受理")
    assert sorted(leader.locator(".actions button").evaluate_all("els => els.map(e => e.dataset.action)")) == [
        "abort",
        "approve",
        "deny",
    ]
    act(leader, "审批通过", "同意")
    expect(leader.locator("#case-status")).to_have_text("审批通过")
    shot(leader, "staff-leader-signed")

    maker = phone.new_page()
    errors += console_errors(maker)
    log_in(maker, "zhizheng")
    open_case(maker, serial)
    act(maker, "证照签发")
    expect(maker.get_by_role("status").first).to_contain_text("证照签发")
    act(maker, "办结", "准予注册")
    expect(maker.locator("#case-status")).to_have_text("已办结")
    maker.get_by_role("link", name="返回任务列表").click()
    maker.get_by_role("tab", name=re.compile("办结")).click()
    expect(maker.locator(f"li[data-serial='{serial}']")).to_contain_text("已办结")

    licences = live_server.call("GET", "/licences", alice)["items"]
    assert [lic["item_code"] for lic in licences] == [ITEM]
    assert errors == []
