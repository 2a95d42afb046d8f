"""A staff member binds their WeChat service-account openid by sending ``绑定 <code>`` to the service account: the
code comes from the staff API, works once and for a few minutes, guessing is rate-limited, and one openid belongs
to one staff member. Messages go through the WeChat protocol (signed XML, wechatpy) as the bot's tests send them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import ConversationMessage
from case_core.models import Staff
from case_core.services.staff_wechat_bind import parse_command
from tests.api.test_profile import assert_error, staff_id
from tests.api.test_staff_accounts import audit
from tests.consult.test_bot_wechat import content_of, post, text_xml
from tests.support.api import Api

CODE_URL = "/api/v1/staff/me/wechat-bind-code"


async def bind_code(api: Api, username: str) -> str:
    r = await api.client.post(CODE_URL, headers=await api.staff(username))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["message_text"] == f"绑定 {body['code']}" and body["message_text"] in body["instruction"]
    assert body["expires_in_seconds"] == 300
    return str(body["code"])


async def send(api: Api, openid: str, text: str, msg_id: int | None = None) -> str:
    r = await post(api.client, text_xml(openid, text, msg_id))
    assert r.status_code == 200, r.text
    assert f"<ToUserName><![CDATA[{openid}]]></ToUserName>" in r.text
    return content_of(r.text)


async def own_openid(api: Api, username: str) -> str | None:
    r = await api.client.get("/api/v1/staff/me?reveal=true", headers=await api.staff(username))
    assert r.status_code == 200, r.text
    return r.json()["contacts"]["wechat_mp_openid"]  # type: ignore[no-any-return]


def test_only_a_bind_command_with_digits_is_one() -> None:
    assert parse_command("绑定 12345678") == "12345678"
    assert parse_command("  绑定：1234 5678 ") == "12345678"
    assert parse_command("绑定1234-5678") == "12345678"
    assert parse_command("绑定 1234") == "1234"  # a wrong code, still a bind attempt (and counted as one)
    for question in ("绑定手机号怎么操作？", "如何绑定", "请问绑定 社保卡", "12345678", "解除绑定 12345678"):
        assert parse_command(question) is None, question


async def test_a_staff_member_binds_their_openid_by_sending_the_code(api: Api) -> None:
    code = await bind_code(api, "shenhe")
    reply = await send(api, "mp-staff-shenhe", f"绑定 {code}", msg_id=77_000_001)
    assert reply.startswith("绑定成功") and "（shenhe）" in reply and "办件提醒" in reply
    assert await own_openid(api, "shenhe") == "mp-staff-shenhe"
    masked = (await api.client.get("/api/v1/staff/me", headers=await api.staff("shenhe"))).json()["contacts"]
    assert masked["wechat_mp_openid"] != "mp-staff-shenhe" and masked["wechat_mp_openid"].endswith("enhe")

    # WeChat retries a message it got no answer to: the same reply, nothing done twice.
    assert await send(api, "mp-staff-shenhe", f"绑定 {code}", msg_id=77_000_001) == reply
    # A code works once.
    assert "绑定码不正确或已过期" in await send(api, "mp-staff-shenhe", f"绑定 {code}")

    (entry,) = [e for e in await audit(api, "staff.wechat.") if e.action == "staff.wechat.bind"]
    shenhe = await staff_id(api, "shenhe")
    assert (entry.actor_type, entry.actor_id, entry.target) == ("staff", shenhe, f"staff:{shenhe}")
    assert entry.detail == {"via": "wechat_message", "openid": masked["wechat_mp_openid"], "replaced": False}
    assert [e.action for e in await audit(api, "staff.wechat.")] == ["staff.wechat.bind_code", "staff.wechat.bind"]
    # The code is not a question: the bot kept no transcript of it.
    async with AsyncSession(api.app.state.engine) as session:
        assert await session.scalar(select(func.count()).select_from(ConversationMessage)) == 0


async def test_a_code_expires_and_a_new_one_replaces_the_old(api: Api) -> None:
    state = api.app.state.weijian
    first = await bind_code(api, "shouli")
    second = await bind_code(api, "shouli")
    assert "绑定码不正确或已过期" in await send(api, "mp-staff-shouli", f"绑定 {first}")
    wall_clock = state.clock
    state.clock = lambda: wall_clock() + timedelta(minutes=5, seconds=1)
    try:
        assert "绑定码不正确或已过期" in await send(api, "mp-staff-shouli", f"绑定 {second}")
    finally:
        state.clock = wall_clock
    assert await own_openid(api, "shouli") is None
    assert "绑定成功" in await send(api, "mp-staff-shouli", f"绑定 {await bind_code(api, 'shouli')}")


async def test_an_openid_bound_to_another_staff_member_is_refused(api: Api) -> None:
    assert "绑定成功" in await send(api, "mp-shared-phone", f"绑定 {await bind_code(api, 'shenhe')}")
    code = await bind_code(api, "shouli")
    reply = await send(api, "mp-shared-phone", f"绑定 {code}")
    assert "已绑定其他工作人员" in reply
    assert await own_openid(api, "shenhe") == "mp-shared-phone"
    assert await own_openid(api, "shouli") is None
    # The refused code is still good from the staff member's own WeChat.
    assert "绑定成功" in await send(api, "mp-staff-shouli", f"绑定 {code}")
    # Typed in on the profile, the same openid is refused too, field by field.
    r = await api.client.put(
        "/api/v1/staff/me", json={"wechat_mp_openid": "mp-shared-phone"}, headers=await api.staff("shouli")
    )
    err = assert_error(r, 422, "field_invalid")
    assert "其他工作人员" in err["details"]["fields"]["wechat_mp_openid"]
    # Binding again from the same WeChat is harmless.
    assert "无需重复绑定" in await send(api, "mp-staff-shouli", f"绑定 {await bind_code(api, 'shouli')}")


async def test_binding_from_another_wechat_replaces_the_previous_openid(api: Api) -> None:
    await send(api, "mp-old-phone", f"绑定 {await bind_code(api, 'shenhe')}")
    assert "原先绑定的微信号已解除" in await send(api, "mp-new-phone", f"绑定 {await bind_code(api, 'shenhe')}")
    assert await own_openid(api, "shenhe") == "mp-new-phone"
    # The old openid is free for someone else now.
    assert "绑定成功" in await send(api, "mp-old-phone", f"绑定 {await bind_code(api, 'shouli')}")


async def test_guessing_codes_is_cut_off_after_a_few_tries(api: Api) -> None:
    code = await bind_code(api, "shenhe")
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        assert "绑定码不正确或已过期" in await send(api, "mp-guesser", f"绑定 {wrong}")
    assert "次数过多" in await send(api, "mp-guesser", f"绑定 {code}")  # even the right one, from this openid
    assert await own_openid(api, "shenhe") is None
    assert "绑定成功" in await send(api, "mp-staff-shenhe", f"绑定 {code}")  # not used up by the guesses


async def test_a_disabled_account_cannot_bind_and_codes_need_a_login(api: Api, client: httpx.AsyncClient) -> None:
    assert_error(await client.post(CODE_URL), 401, "unauthenticated")
    code = await bind_code(api, "shenhe")
    r = await api.client.post(
        f"/api/v1/admin/staff/{await staff_id(api, 'shenhe')}/disable", headers=await api.staff("admin")
    )
    assert r.status_code == 200, r.text
    assert "绑定码不正确或已过期" in await send(api, "mp-staff-shenhe", f"绑定 {code}")
    async with AsyncSession(api.app.state.engine) as session:
        assert await session.scalar(select(Staff.mp_openid_enc).where(Staff.username == "shenhe")) is None


async def test_a_code_sent_twice_at_once_binds_once(api: Api) -> None:
    code = await bind_code(api, "shenhe")
    replies = await asyncio.gather(send(api, "mp-phone-a", f"绑定 {code}"), send(api, "mp-phone-b", f"绑定 {code}"))
    assert sorted("绑定成功" in r for r in replies) == [False, True], replies
    winner = "mp-phone-a" if "绑定成功" in replies[0] else "mp-phone-b"
    assert await own_openid(api, "shenhe") == winner
