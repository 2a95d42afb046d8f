"""The applicant's profile (6.2.2): validated, shown masked, encrypted at rest, revealed to staff only with the
pii_reader role and then audited."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.models import AuditEntry, Staff
from tests.support.api import Api, valid_ric

CJK = re.compile(r"[\u4e00-\u9fff]")
ID_NUMBER = valid_ric()  # 11010519491231002X
PROFILE = {
    "name": "张三",
    "id_type": "居民身份证",
    "id_number": ID_NUMBER,
    "phone": "13800138000",
    "email": "zhangsan@example.com",
    "address": "广东省广州市天河区体育西路1号",
}
SECRET_VALUES = {"id_number": ID_NUMBER, "phone": "13800138000", "address": PROFILE["address"]}


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code, err
    assert CJK.search(err["message"]), err["message"]
    return dict(err)


def assert_masked(profile: dict[str, Any]) -> None:
    assert profile["masked"] is True
    assert profile["id_number"] == ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
    assert re.fullmatch(r"1101\*{10}\d{3}[\dX]", profile["id_number"])
    assert profile["phone"] == "138****8000"
    assert profile["address"] != PROFILE["address"] and "*" in profile["address"]
    assert profile["address"].startswith(PROFILE["address"][:2])
    assert (profile["name"], profile["id_type"], profile["email"]) == (
        PROFILE["name"],
        PROFILE["id_type"],
        PROFILE["email"],
    )


async def put_me(api: Api, who: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await api.client.put("/api/v1/me", json=body, headers=who)


async def with_profile(api: Api, code: str = "alice") -> dict[str, str]:
    who = await api.applicant(code)
    r = await put_me(api, who, PROFILE)
    assert r.status_code == 200, r.text
    return who


async def revealed(api: Api, who: dict[str, str]) -> dict[str, Any]:
    r = await api.client.get("/api/v1/me?reveal=true", headers=who)
    assert r.status_code == 200, r.text
    return dict(r.json())


# ----------------------------------------------------------------------------------------------- the owner's view


async def test_saving_the_profile_answers_it_masked(api: Api) -> None:
    alice = await api.applicant("alice")
    r = await put_me(api, alice, PROFILE)
    assert r.status_code == 200, r.text
    assert_masked(r.json())


async def test_the_profile_is_read_back_masked(api: Api) -> None:
    alice = await with_profile(api)
    r = await api.client.get("/api/v1/me", headers=alice)
    assert r.status_code == 200, r.text
    assert_masked(r.json())


async def test_the_owner_can_reveal_the_full_profile(api: Api) -> None:
    alice = await with_profile(api)
    full = await revealed(api, alice)
    assert full["masked"] is False
    assert {k: full[k] for k in PROFILE} == PROFILE


async def test_a_partial_update_keeps_the_other_fields(api: Api) -> None:
    alice = await with_profile(api)
    r = await put_me(api, alice, {"phone": "13912345678"})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "139****5678"
    full = await revealed(api, alice)
    assert {k: full[k] for k in PROFILE} == {**PROFILE, "phone": "13912345678"}


async def test_one_applicant_never_sees_another_applicants_profile(api: Api) -> None:
    await with_profile(api, "alice")
    bob = await api.applicant("bob")
    mine = await revealed(api, bob)
    assert {k: mine[k] for k in PROFILE} == dict.fromkeys(PROFILE)


# ----------------------------------------------------------------------------------------------- validation


async def test_an_invalid_id_number_is_refused_naming_the_field(api: Api) -> None:
    alice = await api.applicant("alice")
    wrong_check_digit = ID_NUMBER[:-1] + ("1" if ID_NUMBER[-1] != "1" else "2")
    err = assert_error(await put_me(api, alice, {**PROFILE, "id_number": wrong_check_digit}), 422, "field_invalid")
    assert list(err["details"]["fields"]) == ["id_number"]
    assert "证件号码" in err["message"]


async def test_a_refused_update_leaves_the_previous_profile_unchanged(api: Api) -> None:
    alice = await with_profile(api)
    before = await revealed(api, alice)
    r = await put_me(api, alice, {"name": "李四", "phone": "13900000000", "id_number": "110105194912310021"})
    assert_error(r, 422, "field_invalid")
    assert await revealed(api, alice) == before


async def test_an_invalid_phone_is_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    for phone in ("12345", "23800138000", "1380013800a"):
        err = assert_error(await put_me(api, alice, {"phone": phone}), 422, "field_invalid")
        assert list(err["details"]["fields"]) == ["phone"]


async def test_an_invalid_email_is_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    err = assert_error(await put_me(api, alice, {"email": "not-an-email"}), 422, "field_invalid")
    assert list(err["details"]["fields"]) == ["email"]


async def test_an_id_type_outside_the_list_is_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    err = assert_error(await put_me(api, alice, {"id_type": "驾驶证"}), 422, "field_invalid")
    assert list(err["details"]["fields"]) == ["id_type"]


async def test_an_unknown_key_is_refused(api: Api) -> None:
    alice = await with_profile(api)
    before = await revealed(api, alice)
    err = assert_error(await put_me(api, alice, {"name": "李四", "openid": "someone-else"}), 422, "request_invalid")
    assert list(err["details"]["fields"]) == ["openid"]
    assert await revealed(api, alice) == before


async def test_a_passport_number_is_accepted_with_the_passport_id_type(api: Api) -> None:
    alice = await api.applicant("alice")
    r = await put_me(api, alice, {"id_type": "护照", "id_number": "E12345678"})
    assert r.status_code == 200, r.text
    assert r.json()["id_number"] == "E123*5678"


async def test_a_passport_number_is_refused_as_a_resident_id_number(api: Api) -> None:
    alice = await api.applicant("alice")
    r = await put_me(api, alice, {"id_type": "居民身份证", "id_number": "E12345678"})
    assert_error(r, 422, "field_invalid")


async def test_an_id_number_is_checked_against_the_saved_id_type(api: Api) -> None:
    alice = await api.applicant("alice")
    assert (await put_me(api, alice, {"id_type": "护照", "id_number": "E12345678"})).status_code == 200
    r = await put_me(api, alice, {"id_number": "E87654321"})  # a new passport: the type is unchanged
    assert r.status_code == 200, r.text
    assert (await revealed(api, alice))["id_number"] == "E87654321"


async def test_changing_only_the_id_type_cannot_leave_an_invalid_id_number(api: Api) -> None:
    alice = await api.applicant("alice")
    assert (await put_me(api, alice, {"id_type": "护照", "id_number": "E12345678"})).status_code == 200
    r = await put_me(api, alice, {"id_type": "居民身份证"})  # E12345678 is no resident ID number
    err = assert_error(r, 422, "field_invalid")
    assert "id_number" in err["details"]["fields"]
    assert (await revealed(api, alice))["id_type"] == "护照"


# ----------------------------------------------------------------------------------------------- at rest


async def test_id_number_phone_and_address_are_encrypted_at_rest(api: Api) -> None:
    alice = await with_profile(api)
    applicant_id = (await api.client.get("/api/v1/me", headers=alice)).json()["id"]
    async with api.app.state.engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM applicants WHERE id = :id"), {"id": applicant_id})).mappings().one()
        )
    stored = " | ".join(str(v) for v in row.values())
    for value in SECRET_VALUES.values():
        assert value not in stored
    for column in ("id_number_enc", "phone_enc", "address_enc"):
        assert row[column].startswith("sm4:")
    cipher = api.app.state.weijian.ctx.cipher
    assert {k: cipher.decrypt(row[f"{k}_enc"]) for k in SECRET_VALUES} == SECRET_VALUES


async def test_the_same_value_encrypts_differently_each_time(api: Api) -> None:
    await with_profile(api, "alice")
    await with_profile(api, "bob")
    async with api.app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id_number_enc, id_number_index FROM applicants"))).all()
    assert len(rows) == 2
    assert rows[0].id_number_enc != rows[1].id_number_enc  # random IV
    assert rows[0].id_number_index == rows[1].id_number_index  # the blind index still finds both


# ----------------------------------------------------------------------------------------------- staff reads


async def pii_reads(api: Api) -> list[AuditEntry]:
    async with AsyncSession(api.app.state.engine) as session:
        return list(
            (
                await session.scalars(select(AuditEntry).where(AuditEntry.action == "pii.read").order_by(AuditEntry.id))
            ).all()
        )


async def staff_id(api: Api, username: str) -> int:
    async with AsyncSession(api.app.state.engine) as session:
        found = await session.scalar(select(Staff.id).where(Staff.username == username))
        assert found is not None
        return int(found)


async def test_staff_see_the_applicant_masked(api: Api) -> None:
    alice = await with_profile(api)
    case = await api.submitted_case(alice)
    r = await api.client.get(f"/api/v1/staff/cases/{case['id']}/applicant", headers=await api.staff("shouli"))
    assert r.status_code == 200, r.text
    assert_masked(r.json())
    assert await pii_reads(api) == []


async def test_staff_without_pii_reader_cannot_reveal_an_applicant(api: Api) -> None:
    alice = await with_profile(api)
    case = await api.submitted_case(alice)
    r = await api.client.get(
        f"/api/v1/staff/cases/{case['id']}/applicant?reveal=true", headers=await api.staff("shouli")
    )
    assert_error(r, 403, "forbidden")
    assert await pii_reads(api) == []


async def test_a_pii_reader_can_reveal_an_applicant(api: Api) -> None:
    alice = await with_profile(api)
    case = await api.submitted_case(alice)
    r = await api.client.get(
        f"/api/v1/staff/cases/{case['id']}/applicant?reveal=true", headers=await api.staff("admin")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["masked"] is False
    assert {k: body[k] for k in PROFILE} == PROFILE


async def test_revealing_an_applicant_is_audited(api: Api) -> None:
    alice = await with_profile(api)
    applicant_id = (await api.client.get("/api/v1/me", headers=alice)).json()["id"]
    case = await api.submitted_case(alice)
    await api.client.get(f"/api/v1/staff/cases/{case['id']}/applicant?reveal=true", headers=await api.staff("admin"))
    [entry] = await pii_reads(api)
    assert (entry.actor_type, entry.actor_id) == ("staff", await staff_id(api, "admin"))
    assert entry.case_id == case["id"] and entry.target == f"applicant:{applicant_id}"
    assert entry.detail == {"fields": ["id_number", "phone", "address"]}


async def test_the_owner_revealing_their_own_profile_is_not_a_staff_read(api: Api) -> None:
    alice = await with_profile(api)
    await revealed(api, alice)
    assert await pii_reads(api) == []


async def test_staff_outside_the_department_cannot_see_the_applicant(api: Api) -> None:
    alice = await with_profile(api)
    case = await api.submitted_case(alice)
    r = await api.client.get(f"/api/v1/staff/cases/{case['id']}/applicant", headers=await api.staff("other_clerk"))
    assert_error(r, 404, "not_found")
    r = await api.client.get(
        f"/api/v1/staff/cases/{case['id']}/applicant?reveal=true", headers=await api.staff("other_clerk")
    )
    assert_error(r, 404, "not_found")
    assert await pii_reads(api) == []
