"""The agent console in a real browser: an agent claims a conversation the bot handed over and replies, and the
applicant receives the reply; agents curate the knowledge base (edit, review, publish, hit testing, the
unanswered-questions queue)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import PASSWORD, LiveServer, console_errors, fits, shot, unlabelled_controls


def say(server: LiveServer, who: dict[str, str], sender: str, text: str) -> list[dict[str, Any]]:
    """The applicant's chat client on Rasa's REST channel."""
    r = server.http.post("/webhooks/rest/webhook", json={"sender": sender, "message": text}, headers=who)
    assert r.status_code == 200, r.text
    return r.json()


def pending(server: LiveServer, who: dict[str, str], sender: str) -> list[dict[str, Any]]:
    """What the REST channel holds for the applicant (messages an agent sent since the last turn)."""
    r = server.http.get("/webhooks/rest/messages", params={"sender": sender}, headers=who)
    assert r.status_code == 200, r.text
    return r.json()


def agent_login(page: Page, username: str) -> None:
    page.goto("/m/agent/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("navigation", name="坐席功能")).to_be_visible()


def test_an_agent_takes_over_a_conversation_and_the_applicant_gets_the_reply(
    live_server: LiveServer, phone: BrowserContext
) -> None:
    carol = live_server.applicant_headers("browser-carol")
    say(live_server, carol, "carol-phone", "你好")
    handed = say(live_server, carol, "carol-phone", "我要人工")
    assert any("人工" in (m.get("text") or "") for m in handed), handed

    agent = phone.new_page()
    errors = console_errors(agent)
    agent_login(agent, "zixun")
    waiting = agent.locator("#queue li[data-state='waiting_human']")
    expect(waiting).to_have_count(1)
    shot(agent, "agent-queue")
    waiting.get_by_role("link").click()
    expect(agent.locator("#transcript")).to_contain_text("我要人工")
    agent.get_by_role("button", name="接入会话").click()
    expect(agent.locator("#conv-state")).to_contain_text("人工服务中")

    agent.get_by_label("回复申请人").fill("您好，我是咨询坐席小王，请问您想办理哪个事项？")
    agent.get_by_role("button", name="发送").click()
    expect(agent.locator("#transcript .msg.agent")).to_contain_text("我是咨询坐席小王")
    assert unlabelled_controls(agent) == []
    fits(agent, 360)
    shot(agent, "agent-conversation")
    shot(agent.locator("#conversation"), "agent-conversation-pane")

    # The applicant's client receives the agent's reply on its channel.
    texts = [m.get("text") or "" for m in pending(live_server, carol, "carol-phone")]
    assert any("我是咨询坐席小王" in t for t in texts), texts

    # The applicant answers; the agent sees it without reloading.
    say(live_server, carol, "carol-phone", "护士执业注册要多久")
    expect(agent.locator("#transcript .msg.user").last).to_contain_text("护士执业注册要多久", timeout=15_000)

    agent.get_by_role("button", name="结束会话").click()
    expect(agent.locator("#conv-state")).to_contain_text("已结束")
    assert errors == []


def test_agents_curate_the_knowledge_base(live_server: LiveServer, phone: BrowserContext, desk: BrowserContext) -> None:
    # A question the knowledge base cannot answer lands in the unanswered queue.
    dave = live_server.applicant_headers("browser-dave")
    say(live_server, dave, "dave", "医院停车场晚上几点关门")

    agent = phone.new_page()
    errors = console_errors(agent)
    agent_login(agent, "zixun")
    agent.get_by_role("button", name="未解答问题").click()
    card = agent.locator("section[data-unanswered]").filter(has_text="医院停车场晚上几点关门")
    expect(card).to_be_visible()
    assert unlabelled_controls(agent) == []
    shot(agent, "agent-unanswered")
    card.get_by_label("新建条目：答案").fill(
        "医院停车场由各医院自行管理，请直接咨询所去医院。本平台办理卫生健康政务服务事项。"
    )
    card.get_by_role("button", name="建为新条目").click()
    expect(agent.locator("section[data-unanswered]").filter(has_text="医院停车场晚上几点关门")).to_have_count(0)

    # The new draft: the agent adds a similar question and submits it for review.
    agent.get_by_role("button", name="知识库").click()
    agent.get_by_label("搜索知识条目").fill("停车场")
    agent.get_by_role("button", name="搜索").click()
    # The list first shows every entry; wait for the search's answer before opening one.
    found = agent.locator("#entries li").filter(has_text="医院停车场晚上几点关门")
    expect(found).to_have_count(1)
    found.get_by_role("link").click()
    expect(agent.locator("#e-status")).to_have_text("草稿")
    similar = agent.get_by_label("相似问法（每行一个）")
    similar.fill(similar.input_value() + "\n医院停车几点关门")
    agent.get_by_role("button", name="保存修改").click()
    expect(agent.locator(".toast")).to_contain_text("已保存")
    agent.get_by_role("button", name="提交审核").click()
    expect(agent.locator("#e-status")).to_have_text("待审核")
    # An agent who is not a reviewer is not offered publishing.
    expect(agent.get_by_role("button", name="审核通过并发布")).to_have_count(0)
    assert unlabelled_controls(agent) == []
    fits(agent, 360)
    shot(agent, "agent-entry")
    entry_url = agent.url

    # The team lead (reviewer) publishes it; hit testing then finds it first.
    lead = desk.new_page()
    errors += console_errors(lead)
    agent_login(lead, "zixunzz")
    lead.goto(entry_url)
    expect(lead.locator("#e-status")).to_have_text("待审核")
    lead.get_by_role("button", name="审核通过并发布").click()
    expect(lead.locator("#e-status")).to_have_text("已发布")
    lead.get_by_role("button", name="命中测试").click()
    lead.get_by_label("测试问题").fill("医院停车场晚上几点关门呀")
    lead.get_by_role("button", name="测试", exact=True).click()
    first = lead.locator("#hit-results tbody tr").first
    expect(first).to_contain_text("停车场")
    expect(lead.locator("#hit-decision")).to_contain_text(re.compile("直接回答|给出候选问题"))
    shot(lead, "agent-hit-test")
    assert errors == []


def _waiting_id(live_server: LiveServer) -> int:
    lead = live_server.staff_headers("zixunzz")
    waiting = live_server.call("GET", "/consult/conversations?state=waiting_human", lead)["conversations"]
    return max(c["id"] for c in waiting)


def test_the_queue_follows_the_push_socket_and_polling_is_only_the_fallback(
    live_server: LiveServer, desk: BrowserContext
) -> None:
    agent = desk.new_page()
    errors = console_errors(agent)
    reads: list[str] = []
    agent.on("request", lambda r: reads.append(r.url) if "/api/v1/consult/conversations" in r.url else None)
    agent_login(agent, "zixunzz")
    expect(agent.locator("#live")).to_have_attribute("data-connected", "1")
    expect(agent.locator("body")).to_have_attribute("data-sync", "push")

    # With the socket up the page does not poll...
    agent.wait_for_timeout(500)
    before = len(reads)
    agent.wait_for_timeout(4500)  # longer than the polling interval
    assert len(reads) == before, reads[before:]
    # ...and a handoff appears as soon as it is pushed.
    erin = live_server.applicant_headers("browser-erin")
    say(live_server, erin, "erin", "我要人工客服")
    expect(agent.locator(f"#queue li[data-conv-id='{_waiting_id(live_server)}']")).to_be_visible(timeout=3000)

    # Another agent claims it: it leaves this agent's queue at once.
    conv_id = _waiting_id(live_server)
    live_server.call("POST", f"/consult/conversations/{conv_id}/claim", live_server.staff_headers("zixun"))
    expect(agent.locator(f"#queue li[data-conv-id='{conv_id}']")).to_have_count(0, timeout=3000)
    assert errors == []


def test_without_the_push_socket_the_console_falls_back_to_polling(
    live_server: LiveServer, desk: BrowserContext
) -> None:
    agent = desk.new_page()
    errors = console_errors(agent)
    agent.route_web_socket("**/api/v1/ws", lambda ws: ws.close(code=1011))  # the socket cannot stay up
    agent_login(agent, "zixunzz")
    expect(agent.locator("#live")).to_have_attribute("data-connected", "0")
    expect(agent.locator("body")).to_have_attribute("data-sync", "poll")
    frank = live_server.applicant_headers("browser-frank")
    say(live_server, frank, "frank", "转人工")
    expect(agent.locator(f"#queue li[data-conv-id='{_waiting_id(live_server)}']")).to_be_visible(timeout=10_000)
    assert errors == []
