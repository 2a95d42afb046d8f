"""Each channel against a local server speaking its provider's protocol, through the real client."""

from __future__ import annotations

import asyncio
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from notifiers.channels.base import Message
from notifiers.channels.email import SmtpChannel
from notifiers.channels.sms import AliyunSms, TencentSms, aliyun_signature
from notifiers.channels.wechat import SubscribeChannel, TemplateChannel, WeChatSender
from tests.notifiers.conftest import Inbox
from tests.support.fake_sms import FakeSmsServer
from tests.support.fake_wechat import FakeWeChat


def msg(key: str = "ev:1:1:applicant:1:sms", to: str = "13800138000", **kw: Any) -> Message:
    defaults: dict[str, Any] = {
        "title": "申请已受理",
        "body": "您申请的医师执业注册已受理。",
        "provider_template": "SMS_123",
        "params": {"serial_no": "WJ1", "item_name": "医师执业注册"},
    }
    defaults.update(kw)
    return Message(key=key, to=to, **defaults)


def test_aliyun_signature_matches_the_published_example() -> None:
    # The worked example of Aliyun's RPC signature documentation (AccessKeyId "testId", AccessKeySecret "testSecret").
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_signature(params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


async def test_aliyun_sends_with_a_valid_signature_and_the_key_as_out_id(aliyun: FakeSmsServer) -> None:
    aliyun.accepted.clear()
    sms = AliyunSms(aliyun.key_id, aliyun.secret, "卫健政务", endpoint=aliyun.url)
    outcome = await sms.send(msg())
    assert outcome.kind == "sent" and outcome.provider_message_id
    assert aliyun.accepted[-1]["key"] == "ev:1:1:applicant:1:sms"
    assert aliyun.accepted[-1]["params"] == {"serial_no": "WJ1", "item_name": "医师执业注册"}


async def test_aliyun_wrong_secret_bad_number_and_flow_control(aliyun: FakeSmsServer) -> None:
    wrong = AliyunSms(aliyun.key_id, "not-the-secret", "卫健政务", endpoint=aliyun.url)
    assert (await wrong.send(msg())).kind == "retry"  # SignatureDoesNotMatch: retried after the fix, not lost
    sms = AliyunSms(aliyun.key_id, aliyun.secret, "卫健政务", endpoint=aliyun.url)
    bad = await sms.send(msg(to="1380013800x"))
    assert bad.kind == "failed" and "MOBILE_NUMBER_ILLEGAL" in (bad.error or "")
    aliyun.script[:] = ["limit"]
    limited = await sms.send(msg())
    assert limited.kind == "retry" and limited.retry_after == 60.0


async def test_tencent_sends_with_a_tc3_signature(tencent: FakeSmsServer) -> None:
    tencent.accepted.clear()
    sms = TencentSms(tencent.key_id, tencent.secret, "1400000001", "卫健政务", endpoint=tencent.url)
    outcome = await sms.send(msg(key="ev:2:1:applicant:1:sms"))
    assert outcome.kind == "sent" and (outcome.provider_message_id or "").startswith("2433:")
    assert tencent.accepted[-1] == {
        "key": "ev:2:1:applicant:1:sms",
        "to": "+8613800138000",
        "params": ["WJ1", "医师执业注册"],
        "template": "SMS_123",
    }
    wrong = TencentSms(tencent.key_id, "nope", "1400000001", "卫健政务", endpoint=tencent.url)
    refused = await wrong.send(msg())
    assert refused.kind == "failed" and "SignatureFailure" in (refused.error or "")


async def test_sms_provider_500_and_timeout_are_retried_not_failed(aliyun: FakeSmsServer) -> None:
    sms = AliyunSms(aliyun.key_id, aliyun.secret, "卫健政务", endpoint=aliyun.url, timeout=0.5)
    aliyun.timeout_seconds = 1.0
    aliyun.script[:] = ["500", "timeout"]
    assert (await sms.send(msg())).kind == "retry"
    assert (await sms.send(msg())).kind == "retry"


async def test_email_over_smtp_carries_the_key_in_its_message_id(smtp: tuple[Controller, Inbox]) -> None:
    controller, inbox = smtp
    channel = SmtpChannel("127.0.0.1", controller.port, "noreply@wsjkw.gd.gov.cn")
    outcome = await channel.send(
        msg(key="expiry:7:30:applicant:1:email", to="doctor@example.com", title="证照即将到期")
    )
    assert outcome.kind == "sent"
    (rcpt, mail) = inbox.messages[-1]
    assert rcpt == ["doctor@example.com"]
    assert str(make_header(decode_header(mail["Subject"]))) == "证照即将到期"
    assert mail["Message-ID"].strip() == outcome.provider_message_id == "<expiry.7.30.applicant.1.email@weijian.notify>"
    assert "您申请的医师执业注册已受理" in mail.get_payload(decode=True).decode()


async def test_email_to_an_unreachable_server_is_a_retry() -> None:
    channel = SmtpChannel("127.0.0.1", 1, "noreply@example.com", timeout=1)
    assert (await channel.send(msg(to="a@example.com"))).kind == "retry"


# ------------------------------------------------------------------------------------------------ WeChat
def wechat_msg(**kw: Any) -> Message:
    return msg(
        to="openid-alice",
        provider_template="tmpl-1",
        fields={"thing1": "申请已受理", "character_string2": "WJ1"},
        **kw,
    )


@pytest.fixture
def sender(fake_wechat: FakeWeChat) -> WeChatSender:
    fake_wechat.errors.clear()
    return WeChatSender(fake_wechat.appid, fake_wechat.secret, fake_wechat.url)


async def test_subscribe_message_is_sent_through_wechatpy(fake_wechat: FakeWeChat, sender: WeChatSender) -> None:
    outcome = await SubscribeChannel(sender).send(wechat_msg())
    assert outcome.kind == "sent"
    sent = fake_wechat.messages[-1]
    assert sent["path"] == "/cgi-bin/message/subscribe/send" and sent["touser"] == "openid-alice"
    assert sent["data"] == {"thing1": {"value": "申请已受理"}, "character_string2": {"value": "WJ1"}}


async def test_template_message_goes_to_the_service_account_api(fake_wechat: FakeWeChat, sender: WeChatSender) -> None:
    assert (await TemplateChannel(sender).send(wechat_msg())).kind == "sent"
    assert fake_wechat.messages[-1]["path"] == "/cgi-bin/message/template/send"


async def test_43101_user_refused_falls_back_without_retry(fake_wechat: FakeWeChat, sender: WeChatSender) -> None:
    fake_wechat.errors[:] = [43101]
    before = len(fake_wechat.calls)
    outcome = await SubscribeChannel(sender).send(wechat_msg())
    assert outcome.kind == "fallback" and "43101" in (outcome.error or "")
    sends = [p for p, _ in fake_wechat.calls[before:] if p.startswith("/cgi-bin/message")]
    assert len(sends) == 1


@pytest.mark.parametrize("code", [40001, 42001])
async def test_an_expired_token_is_refreshed_once_and_the_message_sent(
    fake_wechat: FakeWeChat, sender: WeChatSender, code: int
) -> None:
    await SubscribeChannel(sender).send(wechat_msg())  # holds a token now
    issued = fake_wechat.tokens_issued
    fake_wechat.errors[:] = [code]
    outcome = await SubscribeChannel(sender).send(wechat_msg())
    assert outcome.kind == "sent"
    assert fake_wechat.tokens_issued == issued + 1 and sender.token_refreshes == 1


async def test_a_token_refreshed_by_another_process_is_not_refreshed_again(fake_wechat: FakeWeChat) -> None:
    # Two senders sharing one token store (as two processes share Redis): the first refreshes, the second finds
    # the new token under the lock and just retries with it.
    from wechatpy.session.memorystorage import MemoryStorage

    shared = MemoryStorage()
    a = WeChatSender(fake_wechat.appid, fake_wechat.secret, fake_wechat.url)
    b = WeChatSender(fake_wechat.appid, fake_wechat.secret, fake_wechat.url)
    a.client.session = b.client.session = shared
    fake_wechat.errors.clear()
    assert (await SubscribeChannel(a).send(wechat_msg())).kind == "sent"
    stale = a.client.access_token
    a.refresh_token(stale)
    issued = fake_wechat.tokens_issued
    b.refresh_token(stale)  # b saw the old token fail: the store already has a newer one
    assert fake_wechat.tokens_issued == issued and b.token_refreshes == 0


@pytest.mark.parametrize("code", [45009, -1])
async def test_quota_and_busy_are_retried_later(fake_wechat: FakeWeChat, sender: WeChatSender, code: int) -> None:
    fake_wechat.errors[:] = [code]
    outcome = await SubscribeChannel(sender).send(wechat_msg())
    assert outcome.kind == "retry" and str(code) in (outcome.error or "")


async def test_wechat_down_is_a_retry(fake_wechat: FakeWeChat, sender: WeChatSender) -> None:
    fake_wechat.fail_with_500 = True
    try:
        outcome = await SubscribeChannel(sender).send(wechat_msg())
    finally:
        fake_wechat.fail_with_500 = False
    assert outcome.kind == "retry"
    await asyncio.sleep(0)
