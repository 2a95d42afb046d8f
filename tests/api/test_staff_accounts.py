"""Staff accounts administered through the API: an admin creates accounts, changes roles and departments, disables,
unlocks and resets passwords within their department and below; staff change their own password under the policy
and must do so first when an admin set it; revoked tokens stop working at once; every action is audited without a
password in sight."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.models import AuditEntry, Department, Staff
from tests.api.test_profile import assert_error, staff_id
from tests.support.api import DEMO_PASSWORD, Api

NEW_PASSWORD = "Qingshui-2026"
ADMIN_URL = "/api/v1/admin/staff"


async def login(api: Api, username: str, password: str) -> httpx.Response:
    return await api.client.post("/api/v1/auth/staff-login", json={"username": username, "password": password})


def bearer(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def department_id(api: Api, code: str) -> int:
    async with AsyncSession(api.app.state.engine) as session:
        found = await session.scalar(select(Department.id).where(Department.code == code))
    if found is None:  # the catalogue puts items at these; the province is the demo staff's
        raise AssertionError(f"no department {code}")
    return int(found)


async def create(api: Api, admin: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("name", "新同事")
    body.setdefault("roles", ["handler"])
    if "department_id" not in body:
        body["department_id"] = await department_id(api, "440000")
    return await api.client.post(ADMIN_URL, json=body, headers=admin)


async def ready_account(api: Api, username: str, roles: list[str], dept: str = "440000") -> dict[str, str]:
    """An account created by the admin whose owner has chosen their password: their headers."""
    admin = await api.staff("admin")
    r = await create(api, admin, username=username, roles=roles, department_id=await department_id(api, dept))
    assert r.status_code == 201, r.text
    first = bearer(await login(api, username, r.json()["initial_password"]))
    return bearer(await change_password(api, first, r.json()["initial_password"], NEW_PASSWORD))


async def change_password(api: Api, who: dict[str, str], old: str, new: str) -> httpx.Response:
    return await api.client.post(
        "/api/v1/staff/me/password", json={"old_password": old, "new_password": new}, headers=who
    )


async def lock_out(api: Api, username: str) -> None:
    """The state five wrong passwords leave (test_auth shows they do; each costs an argon2 verification)."""
    async with AsyncSession(api.app.state.engine) as session, session.begin():
        staff = await session.scalar(select(Staff).where(Staff.username == username))
        assert staff is not None
        staff.locked_until = api.app.state.weijian.clock() + timedelta(minutes=15)


async def audit(api: Api, prefix: str) -> list[AuditEntry]:
    async with AsyncSession(api.app.state.engine) as session:
        q = select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
        return list((await session.scalars(q)).all())


async def test_an_admin_creates_an_account_whose_owner_must_choose_a_password_before_anything_else(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # What a deployment logs (INFO), and everything of our own. (The database drivers' DEBUG logs print SQL
    # parameters, the hash among them: never turn them on in production.)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="weijian")
    admin = await api.staff("admin")
    r = await create(api, admin, username="liwei", name="李伟", roles=["acceptor", "window_clerk"])
    assert r.status_code == 201, r.text
    made = r.json()
    temporary = made["initial_password"]
    assert len(temporary) >= 12
    assert made["username"] == "liwei" and made["roles"] == ["acceptor", "window_clerk"]
    assert made["must_change_password"] is True and made["active"] is True and made["locked"] is False
    # Shown once: reading the account again never shows it.
    again = (await api.client.get(f"{ADMIN_URL}/{made['id']}", headers=admin)).json()
    assert "initial_password" not in again and temporary not in str(again)

    login_r = await login(api, "liwei", temporary)
    assert login_r.json()["must_change_password"] is True
    pending = bearer(login_r)
    for r in (
        await api.client.get("/api/v1/staff/me", headers=pending),
        await api.client.get("/api/v1/staff/tasks", headers=pending),  # a hot route too
        await api.client.get("/api/v1/inbox", headers=pending),
    ):
        assert_error(r, 403, "password_change_required")

    changed = await change_password(api, pending, temporary, NEW_PASSWORD)
    fresh = bearer(changed)
    assert changed.json()["must_change_password"] is False
    assert (await api.client.get("/api/v1/staff/tasks", headers=fresh)).status_code == 200
    assert_error(await api.client.get("/api/v1/staff/me", headers=pending), 401, "session_revoked")
    assert_error(await login(api, "liwei", temporary), 401, "unauthenticated")
    assert (await login(api, "liwei", NEW_PASSWORD)).json()["must_change_password"] is False

    created = await audit(api, "staff.create")
    assert [(e.actor_id, e.target, e.ip) for e in created] == [
        (await staff_id(api, "admin"), f"staff:{made['id']}", "127.0.0.1")
    ]
    assert created[0].detail == {
        "username": "liwei",
        "department_id": made["department_id"],
        "roles": ["acceptor", "window_clerk"],
        "password": "generated",
    }
    assert [e.action for e in await audit(api, "staff.password")] == ["staff.password.change"]
    everything = str([(e.action, e.detail) for e in await audit(api, "")]) + caplog.text
    assert temporary not in everything and NEW_PASSWORD not in everything and "$argon2" not in everything


async def test_an_admin_may_set_the_initial_password_and_it_must_meet_the_policy(api: Api) -> None:
    admin = await api.staff("admin")
    assert_error(await create(api, admin, username="wangfang", password="short1A"), 422, "password_too_short")
    assert_error(await create(api, admin, username="wangfang", password="alllowercase1"), 422, "password_too_simple")
    err = assert_error(
        await create(api, admin, username="wangfang", password="Wangfang-2026"), 422, "password_contains_username"
    )
    assert "用户名" in err["message"]
    r = await create(api, admin, username="wangfang", password="Chunfeng#88")
    assert r.status_code == 201 and r.json()["initial_password"] is None
    assert (await login(api, "wangfang", "Chunfeng#88")).json()["must_change_password"] is True
    assert [e.detail["password"] for e in await audit(api, "staff.create")] == ["set"]


async def test_bad_account_data_is_refused_field_by_field_and_creates_nothing(api: Api) -> None:
    admin = await api.staff("admin")
    err = assert_error(await create(api, admin, username="1x", name=" ", roles=["wizard"]), 422, "field_invalid")
    assert set(err["details"]["fields"]) == {"username", "name", "roles"}
    assert_error(await create(api, admin, username="shenhe"), 409, "username_taken")
    assert_error(await create(api, admin, username="SHENHE"), 409, "username_taken")  # not a look-alike either
    assert_error(await create(api, admin, username="nobody", department_id=999999), 422, "field_invalid")
    assert await audit(api, "staff.create") == []


async def test_the_own_password_change_follows_the_policy_with_stable_codes_and_chinese_messages(api: Api) -> None:
    me = await ready_account(api, "zhaolei", ["handler"])
    cases = [
        ("wrong-Old-1", "Another-Pass9", "password_incorrect"),
        (NEW_PASSWORD, "Ab1-xyz", "password_too_short"),
        (NEW_PASSWORD, "onlylowercaseletters", "password_too_simple"),
        (NEW_PASSWORD, "12345678abcd", "password_too_simple"),
        (NEW_PASSWORD, "xx-ZhaoLei-2026", "password_contains_username"),
        (NEW_PASSWORD, "With space-A1", "password_invalid_characters"),
        (NEW_PASSWORD, NEW_PASSWORD, "password_reused"),
    ]
    for old, new, code in cases:
        assert_error(await change_password(api, me, old, new), 422, code)
    # Nothing changed: the same token and password still work.
    assert (await api.client.get("/api/v1/staff/me", headers=me)).status_code == 200
    assert (await login(api, "zhaolei", NEW_PASSWORD)).status_code == 200
    assert [e.action for e in await audit(api, "staff.password")] == [
        "staff.password.change",
        "staff.password.change_failed",
    ]


async def test_a_disabled_account_cannot_log_in_and_its_tokens_stop_at_once(api: Api) -> None:
    admin = await api.staff("admin")
    target = await staff_id(api, "shenhe")
    before = await api.staff("shenhe")
    r = await api.client.post(f"{ADMIN_URL}/{target}/disable", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    for res in (
        await api.client.get("/api/v1/staff/tasks", headers=before),
        await api.client.get("/api/v1/staff/me", headers=before),
    ):
        assert_error(res, 401, "session_revoked")
    assert_error(await login(api, "shenhe", DEMO_PASSWORD), 403, "account_disabled")
    assert_error(await login(api, "shenhe", "wrong-Passw0rd"), 401, "unauthenticated")  # no hint without it
    listed = (await api.client.get(f"{ADMIN_URL}?active=false", headers=admin)).json()["items"]
    assert [s["username"] for s in listed] == ["shenhe"]

    assert (await api.client.post(f"{ADMIN_URL}/{target}/enable", headers=admin)).json()["active"] is True
    assert (
        await api.client.get("/api/v1/staff/tasks", headers=bearer(await login(api, "shenhe", DEMO_PASSWORD)))
    ).status_code == 200
    assert_error(await api.client.get("/api/v1/staff/tasks", headers=before), 401, "session_revoked")
    assert [e.action for e in await audit(api, "staff.")] == ["staff.disable", "staff.enable"]


async def test_an_admin_unlocks_a_locked_out_account(api: Api) -> None:
    admin = await api.staff("admin")
    for _ in range(5):
        await login(api, "qianpi", "wrong-Passw0rd")
    assert_error(await login(api, "qianpi", DEMO_PASSWORD), 429, "too_many_requests")
    locked = (await api.client.get(f"{ADMIN_URL}?locked=true", headers=admin)).json()["items"]
    assert [(s["username"], s["locked"]) for s in locked] == [("qianpi", True)]
    r = await api.client.post(f"{ADMIN_URL}/{locked[0]['id']}/unlock", headers=admin)
    assert r.json()["locked"] is False
    assert (await login(api, "qianpi", DEMO_PASSWORD)).status_code == 200
    assert [(e.action, e.detail) for e in await audit(api, "staff.")] == [("staff.unlock", {"was_locked": True})]


async def test_a_reset_password_is_temporary_ends_the_sessions_and_lifts_a_lockout(api: Api) -> None:
    admin = await api.staff("admin")
    me = await ready_account(api, "sunli", ["leader"])
    target = await staff_id(api, "sunli")
    await lock_out(api, "sunli")
    r = await api.client.post(f"{ADMIN_URL}/{target}/reset-password", json={}, headers=admin)
    temporary = r.json()["temporary_password"]
    assert r.json()["must_change_password"] is True and r.json()["locked"] is False
    assert_error(await api.client.get("/api/v1/staff/me", headers=me), 401, "session_revoked")
    assert_error(await login(api, "sunli", NEW_PASSWORD), 401, "unauthenticated")
    pending = bearer(await login(api, "sunli", temporary))
    assert_error(await api.client.get("/api/v1/staff/tasks", headers=pending), 403, "password_change_required")
    assert_error(await change_password(api, pending, temporary, temporary), 422, "password_reused")
    assert (await change_password(api, pending, temporary, "Xinmima-2027")).status_code == 200
    # An admin-chosen temporary password meets the policy too.
    r = await api.client.post(f"{ADMIN_URL}/{target}/reset-password", json={"password": "abc"}, headers=admin)
    assert_error(r, 422, "password_too_short")
    resets = await audit(api, "staff.password.reset")
    assert [e.detail for e in resets] == [{"password": "generated"}]
    assert temporary not in str([e.detail for e in await audit(api, "")])


async def test_new_roles_or_department_end_the_sessions_and_the_next_login_carries_them(api: Api) -> None:
    admin = await api.staff("admin")
    me = await ready_account(api, "zhoujie", ["handler"])
    target = await staff_id(api, "zhoujie")
    province, city = await department_id(api, "440000"), await department_id(api, "440100")
    r = await api.client.patch(f"{ADMIN_URL}/{target}", json={"name": "周杰"}, headers=admin)
    assert r.json()["name"] == "周杰"
    assert (await api.client.get("/api/v1/staff/me", headers=me)).status_code == 200  # a name is no privilege
    r = await api.client.patch(
        f"{ADMIN_URL}/{target}", json={"roles": ["leader", "handler"], "department_id": city}, headers=admin
    )
    assert r.status_code == 200 and r.json()["roles"] == ["handler", "leader"] and r.json()["department_id"] == city
    assert_error(await api.client.get("/api/v1/staff/me", headers=me), 401, "session_revoked")
    relogin = await login(api, "zhoujie", NEW_PASSWORD)
    assert relogin.json()["roles"] == ["handler", "leader"]
    updates = [e.detail for e in await audit(api, "staff.update")]
    assert updates == [
        {"changes": {"name": ["新同事", "周杰"]}},
        {"changes": {"roles": [["handler"], ["handler", "leader"]], "department_id": [province, city]}},
    ]
    assert_error(
        await api.client.patch(f"{ADMIN_URL}/{target}", json={"roles": []}, headers=admin), 422, "field_invalid"
    )


async def test_an_admin_cannot_lock_themself_out(api: Api) -> None:
    admin = await api.staff("admin")
    me = await staff_id(api, "admin")
    assert_error(await api.client.post(f"{ADMIN_URL}/{me}/disable", headers=admin), 409, "own_account")
    r = await api.client.patch(f"{ADMIN_URL}/{me}", json={"roles": ["pii_reader"]}, headers=admin)
    assert_error(r, 409, "own_admin_role")
    r = await api.client.post(f"{ADMIN_URL}/{me}/reset-password", json={}, headers=admin)
    assert_error(r, 409, "own_password")
    city = await department_id(api, "440100")
    assert_error(
        await api.client.patch(f"{ADMIN_URL}/{me}", json={"department_id": city}, headers=admin), 409, "own_department"
    )
    # Another admin may: the first demotes a second, whose tokens stop; the second could not have done it.
    second = await ready_account(api, "admin2", ["admin", "leader"])
    second_id = await staff_id(api, "admin2")
    r = await api.client.patch(f"{ADMIN_URL}/{second_id}", json={"roles": ["leader"]}, headers=second)
    assert_error(r, 409, "own_admin_role")
    r = await api.client.patch(f"{ADMIN_URL}/{second_id}", json={"roles": ["leader"]}, headers=admin)
    assert r.status_code == 200, r.text
    assert_error(await api.client.get(ADMIN_URL, headers=second), 401, "session_revoked")
    demoted = bearer(await login(api, "admin2", NEW_PASSWORD))
    assert_error(await api.client.get(ADMIN_URL, headers=demoted), 403, "forbidden")


async def test_an_admin_manages_only_their_department_and_those_below(api: Api) -> None:
    city_admin = await ready_account(api, "gzadmin", ["admin"], dept="440100")
    clerk = await ready_account(api, "gzclerk", ["acceptor"], dept="440100")
    assert clerk
    province_staff = await staff_id(api, "shenhe")
    listed = [s["username"] for s in (await api.client.get(ADMIN_URL, headers=city_admin)).json()["items"]]
    assert sorted(listed) == ["gzadmin", "gzclerk"]
    for r in (
        await api.client.get(f"{ADMIN_URL}/{province_staff}", headers=city_admin),
        await api.client.post(f"{ADMIN_URL}/{province_staff}/disable", headers=city_admin),
        await api.client.post(f"{ADMIN_URL}/{province_staff}/reset-password", json={}, headers=city_admin),
        await api.client.patch(f"{ADMIN_URL}/{province_staff}", json={"name": "x"}, headers=city_admin),
    ):
        assert_error(r, 404, "not_found")
    province = await department_id(api, "440000")
    err = assert_error(await create(api, city_admin, username="sneaky", department_id=province), 422, "field_invalid")
    assert "department_id" in err["details"]["fields"]
    departments = (await api.client.get("/api/v1/admin/departments", headers=city_admin)).json()["items"]
    assert all(d["path"].startswith("/440000/440100/") for d in departments) and departments
    # The province admin sees the city's accounts, not another city's (深圳 is outside the province's tree here).
    everyone = [
        s["username"]
        for s in (await api.client.get(f"{ADMIN_URL}?limit=200", headers=await api.staff("admin"))).json()["items"]
    ]
    assert "gzclerk" in everyone and "other_clerk" not in everyone
    outside = await staff_id(api, "other_clerk")
    assert_error(await api.client.get(f"{ADMIN_URL}/{outside}", headers=await api.staff("admin")), 404, "not_found")


async def test_staff_without_the_admin_role_cannot_manage_accounts(api: Api) -> None:
    clerk = await api.staff("shouli")
    target = await staff_id(api, "shenhe")
    for r in (
        await create(api, clerk, username="intruder"),
        await api.client.patch(f"{ADMIN_URL}/{target}", json={"roles": ["admin"]}, headers=clerk),
        await api.client.post(f"{ADMIN_URL}/{target}/disable", headers=clerk),
        await api.client.post(f"{ADMIN_URL}/{target}/unlock", headers=clerk),
        await api.client.post(f"{ADMIN_URL}/{target}/reset-password", json={}, headers=clerk),
        await api.client.get("/api/v1/admin/roles", headers=clerk),
        await api.client.get("/api/v1/admin/departments", headers=clerk),
    ):
        assert_error(r, 403, "forbidden")
    assert await audit(api, "staff.") == []


async def test_logout_ends_the_accounts_sessions(api: Api) -> None:
    me = await api.staff("zhizheng")
    r = await api.client.post("/api/v1/auth/logout", headers=me)
    assert r.status_code == 204
    assert_error(await api.client.get("/api/v1/staff/me", headers=me), 401, "session_revoked")
    assert [e.action for e in await audit(api, "logout")] == ["logout"]


async def test_the_roles_list_names_every_role_in_chinese(api: Api) -> None:
    items = (await api.client.get("/api/v1/admin/roles", headers=await api.staff("admin"))).json()["items"]
    codes = {i["code"] for i in items}
    assert {"admin", "acceptor", "leader", "consult_agent"} <= codes
    assert all(i["label"] and not i["label"].isascii() for i in items)
