"""The WeChat service account: signatures, plain and safe mode through wechatpy, passive replies, MsgId
de-duplication, customer-service messages for slow turns and agents' replies — against the local fake WeChat."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Any

import httpx
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from bot.models import ConversationMessage
from tests.conftest import WECHAT_MP_AES_KEY, WECHAT_MP_TOKEN
from tests.support.api import Api
from tests.support.fake_wechat import FakeWeChat

HOOK = "/webhooks/wechat"
APPID = "wx-test-app"
_ids = iter(range(10_000_000, 99_999_999))


def signed(**extra: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), "nonce123"
    signature = hashlib.sha1("".join(sorted([WECHAT_MP_TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def text_xml(openid: str, content: str, msg_id: int | None = None) -> str:
    msg_id = msg_id or next(_ids)
    return (
        f"<xml><ToUserName><![CDATA[gh_weijian]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def content_of(xml: str) -> str:
    m = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", xml, re.DOTALL)
    assert m, xml
    return m.group(1)


async def post(client: httpx.AsyncClient, xml: str) -> httpx.Response:
    return await client.post(HOOK, params=signed(), content=xml.encode())


async def settle(app: Any) -> None:
    consult = app.state.consult
    while consult.background:
        await asyncio.gather(*list(consult.background), return_exceptions=True)


async def test_the_server_check_echoes_only_for_our_signature(client: httpx.AsyncClient) -> None:
    ok = await client.get(HOOK, params=signed(echostr="hello-wechat"))
    assert ok.status_code == 200 and ok.text == "hello-wechat"
    bad = await client.get(HOOK, params={**signed(echostr="x"), "signature": "0" * 40})
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "invalid_signature"


async def test_a_text_message_gets_a_passive_reply_in_plain_mode(client: httpx.AsyncClient) -> None:
    r = await post(client, text_xml("mp-dave", "医师首次执业注册需要准备哪些材料？"))
    assert r.status_code == 200
    assert "<ToUserName><![CDATA[mp-dave]]></ToUserName>" in r.text
    assert "医师资格证书" in content_of(r.text)
    assert "回复1：有帮助" in content_of(r.text)  # buttons become numbered lines on WeChat


async def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(client: httpx.AsyncClient) -> None:
    crypto = WeChatCrypto(WECHAT_MP_TOKEN, WECHAT_MP_AES_KEY, APPID)
    params = signed(encrypt_type="aes")
    envelope = crypto.encrypt_message(text_xml("mp-erin", "你好"), params["nonce"], params["timestamp"])
    msg_signature = re.search(r"<MsgSignature><!\[CDATA\[(\w+)\]\]>", envelope)
    assert msg_signature
    r = await client.post(HOOK, params={**params, "msg_signature": msg_signature.group(1)}, content=envelope.encode())
    assert r.status_code == 200 and "<Encrypt>" in r.text
    reply_sig = re.search(r"<MsgSignature><!\[CDATA\[(\w+)\]\]>", r.text)
    assert reply_sig
    plain = crypto.decrypt_message(r.text, reply_sig.group(1), params["timestamp"], params["nonce"])
    assert "智能客服" in content_of(plain)

    tampered = await client.post(HOOK, params={**params, "msg_signature": "0" * 40}, content=envelope.encode())
    assert tampered.status_code == 403


async def test_a_retried_msgid_is_answered_once(client: httpx.AsyncClient, app: Any) -> None:
    xml = text_xml("mp-frank", "护士延续注册需要准备什么材料？", msg_id=424242)
    first, retry = await post(client, xml), await post(client, xml)
    assert first.text == retry.text
    async with app.state.weijian.read_sessions() as session:
        n = await session.scalar(
            select(func.count())
            .select_from(ConversationMessage)
            .where(ConversationMessage.author == "user", ConversationMessage.text == "护士延续注册需要准备什么材料？")
        )
    assert n == 1


async def test_malformed_xml_and_bad_signatures_get_clear_errors(client: httpx.AsyncClient) -> None:
    r = await client.post(HOOK, params=signed(), content=b"<xml><FromUserName>oops")
    assert r.status_code == 400 and r.json()["error"]["code"] == "wechat_message_invalid"
    r = await client.post(HOOK, params=signed(), content=b"\xff\xfe not xml at all")
    assert r.status_code == 400
    r = await client.post(
        HOOK, params={"signature": "x", "timestamp": "1", "nonce": "n"}, content=text_xml("mp-x", "hi").encode()
    )
    assert r.status_code == 403
    r = await client.post(HOOK, params=signed(), content=text_xml("mp-x", "").replace("text", "image").encode())
    assert r.status_code == 200 and "文字" in content_of(r.text)


async def test_a_turn_slower_than_wechat_waits_is_answered_by_customer_service_message(
    client: httpx.AsyncClient, app: Any, fake_wechat: FakeWeChat
) -> None:
    app.state.consult.passive_reply_seconds = 0  # as if the turn took longer than WeChat's 5 seconds
    r = await post(client, text_xml("mp-gina", "你好"))
    assert r.text == "success"
    await settle(app)
    sent = [m for m in fake_wechat.sent if m["touser"] == "mp-gina"]
    assert sent and "智能客服" in sent[0]["text"]["content"]


async def test_progress_over_wechat_finds_the_applicant_by_unionid(client: httpx.AsyncClient, api: Api) -> None:
    carol = await api.applicant("carol")  # mini-program user; WeChat follower mp-carol shares her unionid
    case = await api.submitted_case(carol)
    r = await post(client, text_xml("mp-carol", f"查一下{case['serial_no']}进度"))
    assert case["serial_no"] in content_of(r.text) and "已提交" in content_of(r.text)
    stranger = await post(client, text_xml("mp-zed", f"查一下{case['serial_no']}进度"))
    assert case["serial_no"] not in content_of(stranger.text)


async def test_an_agents_reply_reaches_a_wechat_user_as_customer_service_message(
    client: httpx.AsyncClient, api: Api, fake_wechat: FakeWeChat
) -> None:
    await post(client, text_xml("mp-hank", "转人工"))
    agent = await api.staff("zixun")
    queue = (await api.client.get("/api/v1/consult/conversations?state=waiting_human", headers=agent)).json()
    conv = next(c for c in queue["conversations"] if c["channel"] == "wechat")
    await api.client.post(f"/api/v1/consult/conversations/{conv['id']}/claim", headers=agent)
    r = await api.client.post(
        f"/api/v1/consult/conversations/{conv['id']}/messages", json={"text": "您好，请讲。"}, headers=agent
    )
    assert r.json()["delivered"] is True
    assert {"touser": "mp-hank", "msgtype": "text", "text": {"content": "您好，请讲。"}} in fake_wechat.sent
