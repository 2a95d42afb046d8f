"""Staff members' contacts (phone, e-mail, service-account openid): set by themselves or by an admin, validated,
encrypted at rest, shown masked, in the clear only to themselves and to admins, and every admin reveal audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.models import AuditEntry
from tests.api.test_profile import assert_error, staff_id
from tests.support.api import Api

PHONE, EMAIL, OPENID = "13800138001", "shenhe@wsjkw.example.cn", "oXyZ-test_openid_0001234567"
CONTACTS = {"phone": PHONE, "email": EMAIL, "wechat_mp_openid": OPENID}


async def audit(api: Api, action: str) -> list[AuditEntry]:
    async with AsyncSession(api.app.state.engine) as session:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await session.scalars(q)).all())


async def set_own(api: Api, username: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.client.put("/api/v1/staff/me", json=body, headers=await api.staff(username))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_staff_member_sets_their_contacts_and_sees_them_masked_unless_they_reveal(api: Api) -> None:
    profile = await set_own(api, "shenhe", {"phone": "138 0013 8001", **{k: CONTACTS[k] for k in ("email",)}})
    assert profile["contacts"] == {
        "phone": "138****8001",
        "email": "s***@wsjkw.example.cn",
        "wechat_mp_openid": None,
        "masked": True,
    }
    assert profile["username"] == "shenhe" and profile["contacts_updated_at"]
    me = await api.staff("shenhe")
    assert (await api.client.get("/api/v1/staff/me", headers=me)).json()["contacts"]["phone"] == "138****8001"
    clear = (await api.client.get("/api/v1/staff/me?reveal=true", headers=me)).json()["contacts"]
    assert clear == {"phone": PHONE, "email": EMAIL, "wechat_mp_openid": None, "masked": False}
    assert await audit(api, "pii.read") == []  # one's own contacts are not another's personal data

    # Only the fields sent change; null clears one.
    profile = await set_own(api, "shenhe", {"wechat_mp_openid": OPENID, "email": None})
    assert profile["contacts"]["phone"] == "138****8001" and profile["contacts"]["email"] is None
    assert profile["contacts"]["wechat_mp_openid"] == "*" * (len(OPENID) - 4) + OPENID[-4:]
    changes = await audit(api, "staff.contacts.update")
    assert [(e.actor_id, e.target, e.detail) for e in changes][-1] == (
        await staff_id(api, "shenhe"),
        f"staff:{await staff_id(api, 'shenhe')}",
        {"fields": ["email", "wechat_mp_openid"], "cleared": ["email"]},
    )
    assert PHONE not in str([e.detail for e in changes])  # the audit names fields, never values


async def test_contacts_are_encrypted_at_rest(api: Api) -> None:
    await set_own(api, "qianpi", CONTACTS)
    async with api.app.state.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT phone_enc, email_enc, mp_openid_enc FROM staff WHERE username = 'qianpi'"))
        ).one()
    assert all(v.startswith("sm4:") for v in row)
    stored = " ".join(row)
    assert PHONE not in stored and EMAIL not in stored and OPENID not in stored


async def test_bad_contacts_are_refused_field_by_field_in_chinese_and_nothing_changes(api: Api) -> None:
    await set_own(api, "shouli", {"phone": PHONE})
    me = await api.staff("shouli")
    r = await api.client.put(
        "/api/v1/staff/me",
        json={"phone": "020-12345678", "email": "not-an-address", "wechat_mp_openid": "bad openid!"},
        headers=me,
    )
    err = assert_error(r, 422, "field_invalid")
    fields = err["details"]["fields"]
    assert set(fields) == {"phone", "email", "wechat_mp_openid"}
    assert (
        "11位手机号码" in fields["phone"] and "电子邮箱" in fields["email"] and "openid" in fields["wechat_mp_openid"]
    )
    for bad in ("1380013800", "23800138001", "138001380011"):
        r = await api.client.put("/api/v1/staff/me", json={"phone": bad}, headers=me)
        assert assert_error(r, 422, "field_invalid")["details"]["fields"].keys() == {"phone"}
    unknown = await api.client.put("/api/v1/staff/me", json={"address": "x"}, headers=me)
    assert_error(unknown, 422, "request_invalid")
    clear = (await api.client.get("/api/v1/staff/me?reveal=true", headers=me)).json()["contacts"]
    assert clear["phone"] == PHONE and clear["email"] is None  # the refused requests changed nothing
    # Written the Chinese way, a number is still the number.
    assert (await set_own(api, "shouli", {"phone": "+86 138-0013-8001"}))["contacts"]["phone"] == "138****8001"


async def test_an_admin_sets_and_reads_anothers_contacts_and_every_reveal_is_audited(api: Api) -> None:
    admin = await api.staff("admin")
    target = await staff_id(api, "zhizheng")
    r = await api.client.put(f"/api/v1/admin/staff/{target}/contacts", json=CONTACTS, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["contacts"]["masked"] is True and r.json()["contacts"]["phone"] == "138****8001"

    listed = (await api.client.get("/api/v1/admin/staff?q=zhizheng", headers=admin)).json()["items"]
    assert [(s["username"], s["contacts"]["email"]) for s in listed] == [("zhizheng", "s***@wsjkw.example.cn")]
    assert await audit(api, "pii.read") == []  # masked views are not reads of personal data

    r = await api.client.get(f"/api/v1/admin/staff/{target}?reveal=true", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["contacts"] == {**CONTACTS, "masked": False}
    [read] = await audit(api, "pii.read")
    assert (read.actor_id, read.target) == (await staff_id(api, "admin"), f"staff:{target}")
    assert read.detail == {"fields": ["phone", "email", "wechat_mp_openid"]}
    [change] = await audit(api, "staff.contacts.update")
    assert change.actor_id == await staff_id(api, "admin") and change.target == f"staff:{target}"


async def test_other_staff_can_neither_read_nor_change_anothers_contacts(api: Api) -> None:
    await set_own(api, "zhizheng", CONTACTS)
    target = await staff_id(api, "zhizheng")
    clerk = await api.staff("shouli")
    for r in (
        await api.client.get(f"/api/v1/admin/staff/{target}?reveal=true", headers=clerk),
        await api.client.get("/api/v1/admin/staff", headers=clerk),
        await api.client.put(f"/api/v1/admin/staff/{target}/contacts", json={"phone": PHONE}, headers=clerk),
    ):
        assert_error(r, 403, "forbidden")
    applicant = await api.applicant("curious")
    assert (await api.client.get("/api/v1/staff/me", headers=applicant)).status_code == 401
    assert await audit(api, "pii.read") == []
    missing = await api.client.get("/api/v1/admin/staff/999999", headers=await api.staff("admin"))
    assert_error(missing, 404, "not_found")
