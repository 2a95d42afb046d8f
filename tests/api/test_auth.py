"""Login and bearer tokens: applicants through WeChat (the fake server), staff by password with a lockout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.models import AuditEntry, Staff
from case_core.settings import Settings
from case_core.timeutil import utcnow
from mobile_api.demo import DEMO_STAFF
from mobile_api.security import TokenService
from tests.support.api import DEMO_PASSWORD, Api
from tests.support.fake_wechat import FakeWeChat

CJK = re.compile(r"[\u4e00-\u9fff]")
STAFF_ROLES = {username: sorted(str(r) for r in roles) for username, (_, roles) in DEMO_STAFF.items()}
STAFF_ROLES["other_clerk"] = STAFF_ROLES["shouli"]
WRONG = "wrong-Passw0rd"


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code, err
    assert CJK.search(err["message"]), err["message"]
    return dict(err)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wechat_login(api: Api, code: str) -> httpx.Response:
    return await api.client.post("/api/v1/auth/wechat-login", json={"code": code})


async def staff_login(api: Api, username: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    return await api.client.post("/api/v1/auth/staff-login", json={"username": username, "password": password})


async def staff_row(api: Api, username: str) -> Staff:
    async with AsyncSession(api.app.state.engine) as session:
        staff = await session.scalar(select(Staff).where(Staff.username == username))
        assert staff is not None
        return staff


@pytest.fixture
def wechat_down(fake_wechat: FakeWeChat) -> Iterator[FakeWeChat]:
    fake_wechat.fail_with_500 = True
    try:
        yield fake_wechat
    finally:
        fake_wechat.fail_with_500 = False


# ----------------------------------------------------------------------------------------------- WeChat login


async def test_wechat_login_returns_a_token_that_opens_the_applicant_api(api: Api) -> None:
    r = await wechat_login(api, "alice")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and isinstance(body["applicant_id"], int)
    me = await api.client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == body["applicant_id"]


async def test_logging_in_again_with_the_same_wechat_user_gives_the_same_applicant(api: Api) -> None:
    first = (await wechat_login(api, "alice")).json()
    second = (await wechat_login(api, "alice")).json()
    assert second["applicant_id"] == first["applicant_id"]
    other = (await wechat_login(api, "bob")).json()
    assert other["applicant_id"] != first["applicant_id"]


async def test_a_code_wechat_refuses_is_401_in_chinese(api: Api, fake_wechat: FakeWeChat) -> None:
    fake_wechat.calls.clear()
    err = assert_error(await wechat_login(api, "bad-used-code"), 401, "unauthenticated")
    assert "微信" in err["message"]
    sessions = [params for path, params in fake_wechat.calls if path == "/sns/jscode2session"]
    assert [p["js_code"] for p in sessions] == ["bad-used-code"]
    assert fake_wechat.answer("/sns/jscode2session", sessions[0])["errcode"] == 40029


async def test_wechat_answering_500_is_503_wechat_unavailable(api: Api, wechat_down: FakeWeChat) -> None:
    err = assert_error(await wechat_login(api, "alice"), 503, "wechat_unavailable")
    assert "稍后" in err["message"]


async def test_login_works_again_once_wechat_is_back(api: Api, fake_wechat: FakeWeChat) -> None:
    fake_wechat.fail_with_500 = True
    try:
        assert (await wechat_login(api, "alice")).status_code == 503
    finally:
        fake_wechat.fail_with_500 = False
    assert (await wechat_login(api, "alice")).status_code == 200


async def test_wechat_login_goes_through_the_configured_server(api: Api, fake_wechat: FakeWeChat) -> None:
    fake_wechat.calls.clear()
    assert (await wechat_login(api, "alice")).status_code == 200
    assert [path for path, _ in fake_wechat.calls] == ["/cgi-bin/token", "/sns/jscode2session"]
    token_call, session_call = (params for _, params in fake_wechat.calls)
    assert token_call["appid"] == fake_wechat.appid and token_call["secret"] == fake_wechat.secret
    assert session_call["js_code"] == "alice" and session_call["appid"] == fake_wechat.appid
    assert session_call["access_token"] == fake_wechat.current_token  # the token the server just issued


async def test_the_wechat_access_token_is_fetched_once_and_reused(api: Api, fake_wechat: FakeWeChat) -> None:
    fake_wechat.calls.clear()
    for code in ("alice", "bob", "carol"):
        assert (await wechat_login(api, code)).status_code == 200
    paths = [path for path, _ in fake_wechat.calls]
    assert paths.count("/cgi-bin/token") == 1
    assert paths.count("/sns/jscode2session") == 3


# ----------------------------------------------------------------------------------------------- bearer tokens


async def test_a_request_without_a_token_is_401(api: Api) -> None:
    assert_error(await api.client.get("/api/v1/me"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Bearer ",
        "Basic YWxpY2U6c2VjcmV0",
        "eyJhbGciOiJIUzI1NiJ9.e30.x",
    ],
    ids=["garbage", "empty", "basic-scheme", "no-scheme"],
)
async def test_a_malformed_authorization_header_is_401(api: Api, header: str) -> None:
    assert_error(await api.client.get("/api/v1/me", headers={"Authorization": header}), 401, "unauthenticated")


async def test_a_token_signed_with_another_secret_is_401(api: Api, settings: Settings) -> None:
    alice = (await wechat_login(api, "alice")).json()["applicant_id"]
    forged = TokenService("not-the-server-secret", timedelta(minutes=settings.token_ttl_minutes))
    r = await api.client.get("/api/v1/me", headers=bearer(forged.for_applicant(alice, utcnow())))
    assert_error(r, 401, "unauthenticated")


async def test_an_expired_token_is_401(api: Api, settings: Settings) -> None:
    alice = (await wechat_login(api, "alice")).json()["applicant_id"]
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    tokens = TokenService(settings.resolved_secret, ttl)
    fresh = await api.client.get("/api/v1/me", headers=bearer(tokens.for_applicant(alice, utcnow())))
    assert fresh.status_code == 200, fresh.text  # same key: only the age differs below

    stale = tokens.for_applicant(alice, utcnow() - ttl - timedelta(minutes=1))
    err = assert_error(await api.client.get("/api/v1/me", headers=bearer(stale)), 401, "unauthenticated")
    assert "过期" in err["message"]


async def test_an_applicant_token_is_refused_on_staff_endpoints(api: Api) -> None:
    alice = await api.applicant("alice")
    assert_error(await api.client.get("/api/v1/staff/tasks", headers=alice), 401, "unauthenticated")


async def test_a_staff_token_is_refused_on_applicant_endpoints(api: Api) -> None:
    clerk = await api.staff("shouli")
    assert_error(await api.client.get("/api/v1/me", headers=clerk), 401, "unauthenticated")
    r = await api.client.post("/api/v1/cases", json={"item_code": "GD-WJ-XK-0001"}, headers=clerk)
    assert_error(r, 401, "unauthenticated")


# ----------------------------------------------------------------------------------------------- staff login


@pytest.mark.parametrize("username", sorted(STAFF_ROLES))
async def test_staff_login_returns_a_token_and_the_roles(api: Api, username: str) -> None:
    r = await staff_login(api, username)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["roles"] == STAFF_ROLES[username]
    assert CJK.search(body["name"])
    tasks = await api.client.get("/api/v1/staff/tasks", headers=bearer(body["access_token"]))
    assert tasks.status_code == 200, tasks.text


async def test_a_wrong_password_is_401_with_a_generic_message(api: Api) -> None:
    err = assert_error(await staff_login(api, "shouli", WRONG), 401, "unauthenticated")
    assert err["message"] == "用户名或密码错误"


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(api: Api) -> None:
    wrong_password = await staff_login(api, "shouli", WRONG)
    unknown_user = await staff_login(api, "nobody", WRONG)
    assert_error(unknown_user, 401, "unauthenticated")
    assert unknown_user.json() == wrong_password.json()


async def test_five_wrong_passwords_lock_the_account(api: Api, settings: Settings) -> None:
    assert settings.login_max_failures == 5
    for _ in range(5):
        assert_error(await staff_login(api, "shenhe", WRONG), 401, "unauthenticated")
    err = assert_error(await staff_login(api, "shenhe", DEMO_PASSWORD), 429, "too_many_requests")
    assert "分钟" in err["message"]
    assert str(settings.login_lockout_minutes) in err["message"]


async def test_four_wrong_passwords_do_not_lock_the_account(api: Api) -> None:
    for _ in range(4):
        assert (await staff_login(api, "shenhe", WRONG)).status_code == 401
    assert (await staff_login(api, "shenhe")).status_code == 200


async def test_the_lock_is_kept_in_the_staff_row(api: Api, settings: Settings) -> None:
    for _ in range(4):
        await staff_login(api, "shenhe", WRONG)
    row = await staff_row(api, "shenhe")
    assert (row.failed_logins, row.locked_until) == (4, None)

    before = utcnow()
    await staff_login(api, "shenhe", WRONG)
    row = await staff_row(api, "shenhe")
    lockout = timedelta(minutes=settings.login_lockout_minutes)
    assert row.locked_until is not None
    assert before + lockout - timedelta(seconds=5) <= row.locked_until <= utcnow() + lockout


async def test_a_locked_account_opens_again_when_the_lock_has_passed(api: Api) -> None:
    for _ in range(5):
        await staff_login(api, "shenhe", WRONG)
    assert (await staff_login(api, "shenhe")).status_code == 429
    async with AsyncSession(api.app.state.engine) as session, session.begin():
        row = await session.scalar(select(Staff).where(Staff.username == "shenhe"))
        assert row is not None
        row.locked_until = utcnow() - timedelta(seconds=1)
    assert (await staff_login(api, "shenhe")).status_code == 200


async def test_a_successful_login_resets_the_failure_count(api: Api) -> None:
    for _ in range(4):
        await staff_login(api, "shenhe", WRONG)
    assert (await staff_login(api, "shenhe")).status_code == 200
    assert (await staff_row(api, "shenhe")).failed_logins == 0
    for _ in range(4):
        await staff_login(api, "shenhe", WRONG)
    assert (await staff_login(api, "shenhe")).status_code == 200


async def test_locking_one_account_leaves_the_others_alone(api: Api) -> None:
    for _ in range(5):
        await staff_login(api, "shenhe", WRONG)
    assert (await staff_login(api, "shenhe")).status_code == 429
    assert (await staff_login(api, "qianpi")).status_code == 200


async def test_failed_and_successful_staff_logins_are_audited(api: Api) -> None:
    await staff_login(api, "qianpi", WRONG)
    await staff_login(api, "qianpi")
    staff_id = (await staff_row(api, "qianpi")).id
    async with AsyncSession(api.app.state.engine) as session:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor_id == staff_id, AuditEntry.actor_type == "staff")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [r.action for r in rows] == ["login.failed", "login"]
