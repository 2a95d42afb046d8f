"""Upload → material check → findings, over HTTP: in the upload response when it is quick, else by polling the
material and over the WebSocket hub; stored encrypted with the material; shown to staff beside the form."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from stdnum.cn import ric

from case_core.models import MaterialCheck
from ocr.pool import OcrPool
from ocr.queue import RqRunner
from ocr.samples import TEST_FONTS, Sample, available_fonts, make_sample
from tests.support.api import Api


@pytest.fixture(scope="session")
def rq_worker(settings: Any) -> Iterator[None]:
    """With Redis (the PostgreSQL+Redis run), checks go through rq to a real `weijian ocr worker` process."""
    if not settings.redis_url:
        yield
        return
    env = {**os.environ, "WEIJIAN_REDIS_URL": settings.redis_url, "WEIJIAN_OCR_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mobile_api.cli", "ocr", "worker"], env=env)
    yield
    proc.terminate()
    proc.wait(30)


@pytest.fixture
def checking(app: Any, ocr_pool: OcrPool, rq_worker: None) -> Any:
    """The app with material checks on: on SQLite through the local worker pool (one warm worker shared by the
    tests), with Redis through the rq queue and the worker process above."""
    state = app.state.weijian
    state.settings = state.settings.model_copy(update={"ocr_check_uploads": True, "ocr_upload_wait_seconds": 60})
    state.ocr = RqRunner(state.settings.redis_url, timeout=120) if state.settings.redis_url else ocr_pool
    return state


def _id_card(seed: int, **kw: Any) -> Sample:
    """An ID card front whose number the case form accepts (it uses stdnum's stricter ``ric.is_valid``, which
    also wants the region code to have existed in the birth year)."""
    while True:
        s = make_sample(
            "resident_id_card/front", random.Random(seed), fonts=available_fonts(TEST_FONTS), rotate=0, **kw
        )
        if s.defects or ric.is_valid(s.form["id_number"]):
            return s
        seed += 1000


async def _case_for(api: Api, who: dict[str, str], s: Sample, **typed: str) -> int:
    case = await api.new_case(who)
    form = {"applicant_name": typed.get("name", s.fields["name"]), "id_number": s.form["id_number"]}
    if "id_checksum_invalid" in s.defects:
        form.pop("id_number")  # the form itself refuses a number with a wrong check digit
    await api.fill(who, case["id"], **form)
    return int(case["id"])


async def test_inspect_endpoint_returns_the_verdict(api: Api, checking: Any) -> None:
    who = await api.applicant("ocr-a")
    s = _id_card(1)
    r = await api.client.post(
        "/api/v1/ocr/inspect",
        headers=who,
        data={"expect": "business_licence", "form": json.dumps({"name": "某某某"}), "today": "2026-11-27"},
        files={"file": ("id.jpg", s.image, "image/jpeg")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"material_type", "confidence", "fields", "findings", "timings_ms"}
    assert body["material_type"] == "resident_id_card" and body["fields"]["id_number"] == s.fields["id_number"]
    codes = {f["code"] for f in body["findings"]}
    assert codes == {"wrong_material", "name_mismatch"}


async def test_inspect_endpoint_refuses_what_is_not_an_image(api: Api, checking: Any) -> None:
    who = await api.applicant("ocr-b")
    r = await api.client.post("/api/v1/ocr/inspect", headers=who, files={"file": ("a.txt", b"hello", "text/plain")})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = await api.client.post(
        "/api/v1/ocr/inspect", headers=who, data={"today": "27/11/2026"}, files={"file": ("a.jpg", b"x", "image/jpeg")}
    )
    assert r.status_code in (415, 422)
    r = await api.client.post("/api/v1/ocr/inspect", files={"file": ("a.jpg", _id_card(2).image, "image/jpeg")})
    assert r.status_code == 401


async def test_upload_answers_with_the_check_and_staff_see_it_beside_the_form(api: Api, checking: Any) -> None:
    who = await api.applicant("ocr-c")
    s = _id_card(3)
    case_id = await _case_for(api, who, s, name="王小明")  # typed a different name
    r = await api.upload(who, case_id, "resident_id_card", data=s.image)
    assert r.status_code == 201, r.text
    check = r.json()["check"]
    assert check["status"] == "done" and check["material_type"] == "resident_id_card"
    assert [f["code"] for f in check["findings"]] == ["name_mismatch"] and check["ok"] is False
    by_field = {c["field"]: c for c in check["fields"]}
    assert by_field["name"] == {"field": "name", "read": s.fields["name"], "typed": "王小明", "match": False}
    assert by_field["id_number"]["match"] is True
    assert s.fields["id_number"] not in json.dumps(check)  # masked in what is shown

    # Stored encrypted: the clear number is nowhere in the row.
    async with checking.read_sessions() as session:
        row = (await session.scalars(select(MaterialCheck))).one()
    assert row.status == "done" and s.fields["id_number"] not in (row.fields_enc or "") + (row.text_enc or "")
    assert checking.ctx.cipher.decrypt_json(row.fields_enc)["id_number"] == s.fields["id_number"]

    await api.client.post(f"/api/v1/cases/{case_id}/submit", headers=who)
    staff = (await api.client.get(f"/api/v1/staff/cases/{case_id}", headers=await api.staff("shouli"))).json()
    shown = next(m for m in staff["materials"] if m["material_type"] == "resident_id_card")
    assert shown["check"]["fields"] == check["fields"]  # what was read, beside what was typed
    assert staff["form"]["applicant_name"] == "王小明"


async def test_a_slow_check_finishes_in_the_background_and_is_pushed(api: Api, checking: Any) -> None:
    checking.settings = checking.settings.model_copy(update={"ocr_upload_wait_seconds": 0})
    checking.checks = None
    who = await api.applicant("ocr-d")
    applicant_id = checking.tokens.applicant(who["Authorization"].removeprefix("Bearer ")).id
    s = _id_card(4, defect="id_checksum_invalid")
    case_id = await _case_for(api, who, s)
    async with checking.push.subscribe([f"applicant:{applicant_id}"]) as queue:
        r = await api.upload(who, case_id, "resident_id_card", data=s.image)
        assert r.status_code == 201 and r.json()["check"] == {"status": "pending"}
        pushed = orjson.loads(await asyncio.wait_for(queue.get(), 60))
    assert pushed["type"] == "material.checked" and pushed["material_id"] == r.json()["id"]
    assert "id_checksum_invalid" in [f["code"] for f in pushed["check"]["findings"]]
    detail = await api.detail(who, case_id)
    polled = next(m for m in detail["materials"] if m["id"] == r.json()["id"])
    assert polled["check"] == pushed["check"]


async def test_an_unreadable_upload_is_kept_with_its_finding(api: Api, checking: Any) -> None:
    who = await api.applicant("ocr-e")
    s = _id_card(5)
    case_id = await _case_for(api, who, s)
    blank = make_sample("diploma", random.Random(6), fonts=available_fonts(TEST_FONTS), defect="unreadable")
    r = await api.upload(who, case_id, "resident_id_card", data=blank.image)
    assert r.status_code == 201
    assert [f["code"] for f in r.json()["check"]["findings"]] == ["unreadable"]
    detail = await api.detail(who, case_id)
    assert any(m["id"] == r.json()["id"] for m in detail["materials"])


async def test_a_reused_material_is_checked_against_the_new_case(api: Api, checking: Any) -> None:
    who = await api.applicant("ocr-f")
    s = _id_card(7)
    first = await _case_for(api, who, s)
    r = await api.upload(who, first, "resident_id_card", data=s.image)
    assert r.status_code == 201 and r.json()["check"]["findings"] == []
    second = await _case_for(api, who, s, name="赵六")  # the new case's form says another name
    r2 = await api.client.post(
        f"/api/v1/cases/{second}/materials/reuse", headers=who, json={"material_id": r.json()["id"]}
    )
    assert r2.status_code == 201, r2.text
    assert [f["code"] for f in r2.json()["check"]["findings"]] == ["name_mismatch"]
