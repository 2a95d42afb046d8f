"""Materials over HTTP (6.2.3): what an upload must be to be kept, where it is kept, and who may touch it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from case_core.settings import Settings
from tests.support import images
from tests.support.api import Api

ID_CARD = "resident_id_card"
PER_APPLICATION = "application_form"  # validity rule per_application in data/materials.yaml
CJK = re.compile(r"[\u4e00-\u9fff]")


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code, err
    assert CJK.search(err["message"]), err["message"]
    return dict(err)


async def material_rows(api: Api, case_id: int) -> list[dict[str, Any]]:
    async with api.app.state.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, material_type, version, state, sha256, storage_key, source FROM materials "
                "WHERE case_id = :case_id ORDER BY id"
            ),
            {"case_id": case_id},
        )
        return [dict(r) for r in rows.mappings()]


async def draft(api: Api, who: dict[str, str]) -> int:
    return int((await api.new_case(who))["id"])


async def uploaded(
    api: Api, who: dict[str, str], case_id: int, material_type: str = ID_CARD, data: bytes | None = None, **kw: Any
) -> dict[str, Any]:
    r = await api.upload(who, case_id, material_type, data, **kw)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def submitted_with_own_files(api: Api, who: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """A submitted case whose every required material is a different file (so no two share a hash)."""
    case_id = await draft(api, who)
    await api.fill(who, case_id)
    out = {}
    for m in (await api.item())["materials"]:
        if m["required"]:
            out[m["material_id"]] = await uploaded(
                api, who, case_id, m["material_id"], images.jpeg(text=f"{m['material_id']} {case_id}")
            )
    r = await api.client.post(f"/api/v1/cases/{case_id}/submit", headers=who)
    assert r.status_code == 200, r.text
    return case_id, out


LimitedApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def limited_api(app: object, settings: Settings) -> AsyncIterator[LimitedApi]:
    """Builds an app on the same database with other upload caps: ``await limited_api(upload_max_bytes=1024)``."""
    from mobile_api.app import create_app

    made: list[tuple[Any, httpx.AsyncClient]] = []

    async def build(**caps: int) -> Api:
        application = create_app(settings.model_copy(update=caps))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")
        made.append((application, client))
        return Api(client, application)

    yield build
    for application, client in made:
        await client.aclose()
        if application.state.weijian.reads is not None:
            await application.state.weijian.reads.close()
        await application.state.engine.dispose()


# ----------------------------------------------------------------------------------------------- accepted files


@pytest.mark.parametrize(
    ("data", "expected_type", "ext"),
    [
        (images.jpeg(), "image/jpeg", ".jpg"),
        (images.png(), "image/png", ".png"),
        (images.pdf(pages=2), "application/pdf", ".pdf"),
    ],
    ids=["jpeg", "png", "pdf"],
)
async def test_jpeg_png_and_pdf_are_accepted_and_typed_by_their_content(
    api: Api, data: bytes, expected_type: str, ext: str
) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    # Declared type and name both lie: the bytes decide.
    r = await api.upload(alice, case_id, ID_CARD, data, filename="证件.bin", content_type="text/plain")
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["content_type"] == expected_type
    assert m["filename"] == "证件" + ext
    assert m["size"] == len(data)
    assert m["sha256"] == hashlib.sha256(data).hexdigest()
    assert m["material_type"] == ID_CARD and m["version"] == 1 and m["source"] == "upload"


async def test_an_uploaded_material_is_named_as_in_the_case_detail(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    m = await uploaded(api, alice, case_id, ID_CARD)
    [listed] = (await api.detail(alice, case_id))["materials"]
    assert listed["name"] == "居民身份证"
    assert m["name"] == listed["name"]


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd.jpg", "C:\\Users\\alice\\Desktop\\..\\passwd.jpg"],
    ids=["posix-path", "windows-path"],
)
async def test_the_stored_filename_is_never_a_path(api: Api, filename: str) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    m = await uploaded(api, alice, case_id, filename=filename)
    assert m["filename"] == "passwd.jpg"
    assert "/" not in m["filename"] and "\\" not in m["filename"] and ".." not in m["filename"]
    detail = await api.detail(alice, case_id)
    assert [x["filename"] for x in detail["materials"]] == ["passwd.jpg"]


async def test_the_file_is_stored_under_its_sha256_not_its_name(api: Api, settings: Settings) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    data = images.jpeg(text="stored by hash")
    digest = hashlib.sha256(data).hexdigest()
    m = await uploaded(api, alice, case_id, data=data, filename="../../etc/passwd.jpg")
    [row] = await material_rows(api, case_id)
    assert row["id"] == m["id"]
    assert row["storage_key"] == row["sha256"] == digest
    stored = [p for p in (settings.data_dir / "files").rglob("*") if p.is_file() and p.name == digest]
    assert len(stored) == 1 and stored[0].read_bytes() == data
    assert not [p for p in settings.data_dir.rglob("*passwd*")]


# ----------------------------------------------------------------------------------------------- refused files


async def test_a_file_over_the_size_cap_is_refused_with_413(api: Api, limited_api: LimitedApi) -> None:
    small = await limited_api(upload_max_bytes=4096)
    alice = await small.applicant("alice")
    case_id = await draft(small, alice)
    data = images.jpeg(width=800, height=600, quality=95)
    assert len(data) > 4096
    err = assert_error(await small.upload(alice, case_id, ID_CARD, data), 413, "payload_too_large")
    assert err["details"] == {"max_bytes": 4096}
    assert await material_rows(small, case_id) == []


async def test_a_file_at_the_size_cap_is_accepted(api: Api, limited_api: LimitedApi) -> None:
    data = images.png(8, 8)
    small = await limited_api(upload_max_bytes=len(data))
    alice = await small.applicant("alice")
    case_id = await draft(small, alice)
    r = await small.upload(alice, case_id, ID_CARD, data, filename="x.png")
    assert r.status_code == 201, r.text


async def test_a_text_file_renamed_jpg_is_refused_with_415(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    r = await api.upload(alice, case_id, ID_CARD, "这不是图片，只是文字。\n".encode() * 20, filename="scan.jpg")
    err = assert_error(r, 415, "unsupported_media_type")
    assert set(err["details"]["allowed"]) == {"image/jpeg", "image/png", "application/pdf"}


async def test_a_truncated_jpeg_is_refused_as_corrupt(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    r = await api.upload(alice, case_id, ID_CARD, images.truncated(images.jpeg(width=640, height=480)))
    assert_error(r, 422, "file_corrupt")


async def test_a_pdf_without_its_end_is_refused_as_corrupt(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    data = images.pdf(pages=3)
    r = await api.upload(
        alice, case_id, ID_CARD, data[: data.rindex(b"%%EOF")], filename="x.pdf", content_type="application/pdf"
    )
    assert_error(r, 422, "file_corrupt")


async def test_an_image_whose_header_claims_huge_dimensions_is_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    bomb = images.png_claiming(100_000, 100_000)
    assert len(bomb) < 100
    r = await api.upload(alice, case_id, ID_CARD, bomb, filename="bomb.png", content_type="image/png")
    assert_error(r, 422, "image_too_large")


async def test_an_image_over_the_configured_pixel_cap_is_refused(api: Api, limited_api: LimitedApi) -> None:
    small = await limited_api(upload_max_pixels=1000)
    alice = await small.applicant("alice")
    case_id = await draft(small, alice)
    r = await small.upload(alice, case_id, ID_CARD, images.png(40, 30), filename="x.png")
    err = assert_error(r, 422, "image_too_large")
    assert err["details"] == {"width": 40, "height": 30}
    r = await small.upload(alice, case_id, ID_CARD, images.png(40, 25), filename="x.png")  # exactly 1000
    assert r.status_code == 201, r.text


async def test_a_pdf_with_more_pages_than_the_cap_is_refused(api: Api, settings: Settings) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    cap = settings.upload_max_pdf_pages
    r = await api.upload(alice, case_id, ID_CARD, images.pdf(pages=cap + 1), filename="x.pdf")
    err = assert_error(r, 422, "too_many_pages")
    assert err["details"] == {"pages": cap + 1}
    assert str(cap) in err["message"]
    r = await api.upload(alice, case_id, ID_CARD, images.pdf(pages=cap), filename="x.pdf")
    assert r.status_code == 201, r.text


async def test_an_empty_file_is_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    assert_error(await api.upload(alice, case_id, ID_CARD, b""), 422, "file_empty")


async def test_a_refused_file_is_not_kept_on_disk(api: Api, settings: Settings) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    bad = images.truncated(images.jpeg(width=640, height=480))
    assert (await api.upload(alice, case_id, ID_CARD, bad)).status_code == 422
    digest = hashlib.sha256(bad).hexdigest()
    assert not [p for p in settings.data_dir.rglob(digest)]


async def test_a_refused_replacement_is_not_kept_on_disk(api: Api, settings: Settings) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    data = images.jpeg(text="refused replacement")
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/materials",
        headers=alice,
        data={"material_type": ID_CARD, "replaces": "999999"},
        files={"file": ("new.jpg", data, "image/jpeg")},
    )
    assert_error(r, 404, "not_found")
    assert not [p for p in settings.data_dir.rglob(hashlib.sha256(data).hexdigest())]


async def test_a_failed_upload_keeps_the_draft(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    saved = await api.fill(alice, case_id, applicant_name="李四", major="临床医学")
    first = await uploaded(api, alice, case_id)
    before = await material_rows(api, case_id)

    r = await api.upload(alice, case_id, "employment_proof", images.truncated(images.jpeg(width=640, height=480)))
    assert_error(r, 422, "file_corrupt")

    after = await api.detail(alice, case_id)
    assert after["form"] == saved["form"]
    assert (after["form"]["applicant_name"], after["form"]["major"]) == ("李四", "临床医学")
    assert after["delivery"] == saved["delivery"]
    assert [m["id"] for m in after["materials"]] == [first["id"]]
    assert await material_rows(api, case_id) == before


async def test_a_material_type_the_item_does_not_list_is_refused(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    for material_type in ("business_licence", "no_such_material"):  # a known type of another item; an unknown one
        err = assert_error(await api.upload(alice, case_id, material_type), 422, "validation_failed")
        assert err["details"] == {"material_type": material_type}
    assert await material_rows(api, case_id) == []


# ----------------------------------------------------------------------------------------------- delete, replace


async def test_a_deleted_material_is_gone_from_the_detail(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    keep = await uploaded(api, alice, case_id, ID_CARD)
    gone = await uploaded(api, alice, case_id, "id_photo", images.jpeg(text="photo"))

    r = await api.client.delete(f"/api/v1/cases/{case_id}/materials/{gone['id']}", headers=alice)
    assert r.status_code == 204, r.text
    assert [m["id"] for m in (await api.detail(alice, case_id))["materials"]] == [keep["id"]]
    r = await api.client.delete(f"/api/v1/cases/{case_id}/materials/{gone['id']}", headers=alice)
    assert_error(r, 404, "not_found")


async def test_replacing_a_material_bumps_its_version_and_hides_the_old_one(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    old = await uploaded(api, alice, case_id, ID_CARD, images.jpeg(text="old"))
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/materials",
        headers=alice,
        data={"material_type": ID_CARD, "replaces": str(old["id"])},
        files={"file": ("new.png", images.png(), "image/png")},
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["version"] == 2 and new["id"] != old["id"]

    listed = (await api.detail(alice, case_id))["materials"]
    assert [(m["id"], m["version"]) for m in listed] == [(new["id"], 2)]
    states = {row["id"]: row["state"] for row in await material_rows(api, case_id)}
    assert states == {old["id"]: "replaced", new["id"]: "active"}


async def test_a_material_cannot_be_replaced_by_another_type(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    old = await uploaded(api, alice, case_id, ID_CARD)
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/materials",
        headers=alice,
        data={"material_type": "id_photo", "replaces": str(old["id"])},
        files={"file": ("new.png", images.png(), "image/png")},
    )
    assert_error(r, 422, "validation_failed")
    assert [m["id"] for m in (await api.detail(alice, case_id))["materials"]] == [old["id"]]


# ----------------------------------------------------------------------------------------------- who may upload


async def test_uploading_to_a_submitted_case_is_a_conflict(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    before = await material_rows(api, case["id"])
    assert_error(await api.upload(alice, case["id"], ID_CARD), 409, "conflict")
    assert await material_rows(api, case["id"]) == before


async def test_deleting_from_a_submitted_case_is_a_conflict(api: Api) -> None:
    alice = await api.applicant("alice")
    case = await api.submitted_case(alice)
    material_id = case["materials"][0]["id"]
    r = await api.client.delete(f"/api/v1/cases/{case['id']}/materials/{material_id}", headers=alice)
    assert_error(r, 409, "conflict")


async def test_another_applicant_cannot_upload_to_my_case(api: Api) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    case_id = await draft(api, alice)
    assert_error(await api.upload(bob, case_id, ID_CARD), 404, "not_found")
    assert await material_rows(api, case_id) == []


async def test_another_applicant_cannot_delete_my_material(api: Api) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    case_id = await draft(api, alice)
    m = await uploaded(api, alice, case_id)
    r = await api.client.delete(f"/api/v1/cases/{case_id}/materials/{m['id']}", headers=bob)
    assert_error(r, 404, "not_found")
    assert [x["id"] for x in (await api.detail(alice, case_id))["materials"]] == [m["id"]]


# ----------------------------------------------------------------------------------------------- reuse


async def test_an_id_card_from_a_submitted_case_is_offered_for_reuse(api: Api) -> None:
    alice = await api.applicant("alice")
    _, files = await submitted_with_own_files(api, alice)
    await draft(api, alice)
    r = await api.client.get(f"/api/v1/materials/reusable?material_type={ID_CARD}", headers=alice)
    assert r.status_code == 200, r.text
    assert [(m["id"], m["material_type"]) for m in r.json()["items"]] == [(files[ID_CARD]["id"], ID_CARD)]


async def test_a_reused_material_is_added_with_source_reuse(api: Api) -> None:
    alice = await api.applicant("alice")
    _, files = await submitted_with_own_files(api, alice)
    case_id = await draft(api, alice)
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/materials/reuse", json={"material_id": files[ID_CARD]["id"]}, headers=alice
    )
    assert r.status_code == 201, r.text
    reused = r.json()
    assert reused["source"] == "reuse" and reused["material_type"] == ID_CARD
    assert reused["sha256"] == files[ID_CARD]["sha256"] and reused["id"] != files[ID_CARD]["id"]
    listed = (await api.detail(alice, case_id))["materials"]
    assert [(m["id"], m["source"]) for m in listed] == [(reused["id"], "reuse")]


async def test_the_same_material_cannot_be_reused_twice_in_a_case(api: Api) -> None:
    alice = await api.applicant("alice")
    _, files = await submitted_with_own_files(api, alice)
    case_id = await draft(api, alice)
    body = {"material_id": files[ID_CARD]["id"]}
    assert (
        await api.client.post(f"/api/v1/cases/{case_id}/materials/reuse", json=body, headers=alice)
    ).status_code == 201
    r = await api.client.post(f"/api/v1/cases/{case_id}/materials/reuse", json=body, headers=alice)
    assert_error(r, 409, "conflict")


async def test_a_per_application_material_is_not_reusable(api: Api) -> None:
    alice = await api.applicant("alice")
    _, files = await submitted_with_own_files(api, alice)
    case_id = await draft(api, alice)
    r = await api.client.get(f"/api/v1/materials/reusable?material_type={PER_APPLICATION}", headers=alice)
    assert r.status_code == 200 and r.json()["items"] == []
    everything = (await api.client.get("/api/v1/materials/reusable", headers=alice)).json()["items"]
    assert PER_APPLICATION not in {m["material_type"] for m in everything}
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/materials/reuse", json={"material_id": files[PER_APPLICATION]["id"]}, headers=alice
    )
    assert_error(r, 422, "validation_failed")
    assert (await api.detail(alice, case_id))["materials"] == []


async def test_another_applicants_material_cannot_be_reused(api: Api) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    _, files = await submitted_with_own_files(api, alice)
    bobs = (await api.client.get(f"/api/v1/materials/reusable?material_type={ID_CARD}", headers=bob)).json()
    assert bobs["items"] == []
    case_id = await draft(api, bob)
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/materials/reuse", json={"material_id": files[ID_CARD]["id"]}, headers=bob
    )
    assert_error(r, 404, "not_found")


async def test_a_deleted_material_cannot_be_reused(api: Api) -> None:
    alice = await api.applicant("alice")
    first = await draft(api, alice)
    m = await uploaded(api, alice, first, ID_CARD, images.jpeg(text="wrong card"))
    r = await api.client.delete(f"/api/v1/cases/{first}/materials/{m['id']}", headers=alice)
    assert r.status_code == 204
    listed = (await api.client.get(f"/api/v1/materials/reusable?material_type={ID_CARD}", headers=alice)).json()
    assert listed["items"] == []
    second = await draft(api, alice)
    r = await api.client.post(f"/api/v1/cases/{second}/materials/reuse", json={"material_id": m["id"]}, headers=alice)
    assert_error(r, 404, "not_found")


async def test_one_scan_uploaded_as_two_material_types_is_offered_for_both(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    scan = images.pdf(pages=2)  # e.g. ID card and qualification certificate scanned into one PDF
    await uploaded(api, alice, case_id, ID_CARD, scan, filename="scan.pdf")
    await uploaded(api, alice, case_id, "physician_qualification_cert", scan, filename="scan.pdf")
    items = (await api.client.get("/api/v1/materials/reusable", headers=alice)).json()["items"]
    assert {m["material_type"] for m in items} == {ID_CARD, "physician_qualification_cert"}


# ----------------------------------------------------------------------------------------------- download


async def test_the_owner_downloads_the_same_bytes(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    data = images.png(50, 20)
    m = await uploaded(api, alice, case_id, data=data, filename="x.png")
    r = await api.client.get(f"/api/v1/cases/{case_id}/materials/{m['id']}/file", headers=alice)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in r.headers["cache-control"]


async def test_another_applicant_cannot_download_my_file(api: Api) -> None:
    alice, bob = await api.applicant("alice"), await api.applicant("bob")
    case_id = await draft(api, alice)
    m = await uploaded(api, alice, case_id)
    r = await api.client.get(f"/api/v1/cases/{case_id}/materials/{m['id']}/file", headers=bob)
    assert_error(r, 404, "not_found")
    assert r.content != images.jpeg()


async def test_a_deleted_material_cannot_be_downloaded(api: Api) -> None:
    alice = await api.applicant("alice")
    case_id = await draft(api, alice)
    m = await uploaded(api, alice, case_id)
    await api.client.delete(f"/api/v1/cases/{case_id}/materials/{m['id']}", headers=alice)
    r = await api.client.get(f"/api/v1/cases/{case_id}/materials/{m['id']}/file", headers=alice)
    assert_error(r, 404, "not_found")


async def test_a_material_cannot_be_downloaded_through_another_of_my_cases(api: Api) -> None:
    alice = await api.applicant("alice")
    first, second = await draft(api, alice), await draft(api, alice)
    m = await uploaded(api, alice, first)
    r = await api.client.get(f"/api/v1/cases/{second}/materials/{m['id']}/file", headers=alice)
    assert_error(r, 404, "not_found")
