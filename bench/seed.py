"""The benchmark's data: demo catalogue and staff, cases walked through the real API (in-process), then bulk
copies made with SQL so the numbers of rows are realistic without thousands of API round trips.

What it leaves behind (see ``Fixture``):

* applicant ``bench-detail`` with two cases walked to ``accepted`` through the API (create, fill, upload,
  submit, 补正 requested, supplement uploaded, resubmit, accept: 5 events each); the second then gets 495 more
  events by SQL, so it has 500 (the detail endpoint shows the latest page of 50 plus the total);
* 2,000 cases cloned from the first one into the demo department in a spread of statuses, deadlines and
  pauses, each with its 5 events (the staff task list reads these);
* applicant ``bench-submit`` with one complete draft made through the API (form, delivery, required materials);
  ``add_drafts`` makes copies of it by SQL (case row with its encrypted ``secret``, materials rows, the
  ``create`` event, each with its own serial number) so every submit request gets a draft nobody submitted.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.db import DEMO_PASSWORD, Urls
from bench.fakewechat import APPID, SECRET, FakeWeChat
from case_core.models import Case, CaseEvent, Material
from case_core.settings import Settings

ITEM = "GD-WJ-XK-0001"  # 医师执业注册（首次注册）: pre_accept → accept → review → leader_sign → make_licence → conclude
TASK_CASES = 2000
EXTRA_EVENTS = 495  # the long case: 5 events through the API + these = 500


@dataclass
class Fixture:
    detail_token: str
    submit_token: str
    staff_token: str  # shouli: window clerk + acceptor in the demo department
    applicant_id: int  # owner of the detail cases (the one-row baselines read this applicant)
    item_id: int
    case_5: int
    case_500: int
    probe_draft: int  # a draft kept aside to check the submit endpoint before the load run
    draft_template: int  # the complete draft the submit pools are cloned from
    submit_applicant_id: int
    task_cases: int = 0


def bench_settings(urls: Urls, data_dir: Path, secret: str, wechat_url: str = "") -> Settings:
    return Settings(
        database_url=urls.async_url,
        data_dir=data_dir,
        redis_url=None,
        secret_key=secret,
        demo_password=DEMO_PASSWORD,
        wechat_appid=APPID if wechat_url else "",
        wechat_secret=SECRET if wechat_url else "",
        wechat_api_base_url=wechat_url or "https://api.weixin.qq.com/",
        # The seed's uploads are blank test images: reading them would keep two OCR processes busy while the
        # load runs (bench.ocr measures OCR).
        ocr_check_uploads=False,
        _env_file=None,
    )


# ----------------------------------------------------------------------------------------------- the API walk


def _jpeg() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(img).text((10, 10), "BENCH SAMPLE", fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _ric(body: str = "11010519491231002") -> str:
    from stdnum.cn import ric

    return body + ric.calc_check_digit(body + "0")


def _value_for(f: dict[str, Any]) -> Any:
    """A valid value for a form field (the same choices as the tests' client)."""
    from stdnum import luhn
    from stdnum.cn import uscc

    kind, validator = f.get("type"), f.get("validator")
    if kind == "select":
        return f["options"][0]
    if kind == "date":
        return "1990-01-01"
    if kind == "phone":
        return "13800138000"
    if kind == "id_number":
        return _ric()
    if kind == "number":
        return 1
    if validator == "email":
        return "doctor@example.com"
    if validator == "GB 32100":
        body = "91440101MA59ABCD1"
        return body + uscc.calc_check_digit(body)
    if validator == "Luhn":
        body = "622202020000000000"
        return body + luhn.calc_check_digit(body)
    if kind == "text":
        return "广州市天河区体育西路1号"
    return "张三"


class _Walker:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.c = client
        self.jpeg = _jpeg()
        self._item: dict[str, Any] | None = None

    async def ok(self, method: str, url: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.c.request(method, url, **kw)
        if r.status_code != expect:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    async def applicant(self, code: str) -> tuple[dict[str, str], int]:
        body = await self.ok("POST", "/api/v1/auth/wechat-login", json={"code": code})
        return {"Authorization": f"Bearer {body['access_token']}"}, int(body["applicant_id"])

    async def staff(self, username: str) -> dict[str, str]:
        body = await self.ok("POST", "/api/v1/auth/staff-login", json={"username": username, "password": DEMO_PASSWORD})
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def item(self) -> dict[str, Any]:
        if self._item is None:
            self._item = await self.ok("GET", f"/api/v1/items/{ITEM}")
        return self._item

    async def upload(self, who: dict[str, str], case_id: int, material_type: str) -> None:
        await self.ok(
            "POST",
            f"/api/v1/cases/{case_id}/materials",
            expect=201,
            headers=who,
            data={"material_type": material_type},
            files={"file": ("scan.jpg", self.jpeg, "image/jpeg")},
        )

    async def complete_draft(self, who: dict[str, str]) -> int:
        item = await self.item()
        case = await self.ok("POST", "/api/v1/cases", expect=201, json={"item_code": ITEM}, headers=who)
        form = {f["key"]: _value_for(f) for f in item["form"]["fields"]}
        delivery = {"material_submission": item["submission_methods"][0], "pickup": item["delivery_methods"][0]}
        await self.ok("PATCH", f"/api/v1/cases/{case['id']}", json={"form": form, "delivery": delivery}, headers=who)
        for m in item["materials"]:
            if m["required"]:
                await self.upload(who, case["id"], m["material_id"])
        return int(case["id"])

    async def accepted_case(self, who: dict[str, str], clerk: dict[str, str]) -> int:
        """draft → submitted → supplement_requested → submitted → accepted: 5 events, 2 notices."""
        case_id = await self.complete_draft(who)
        await self.ok("POST", f"/api/v1/cases/{case_id}/submit", headers=who)
        await self.ok(
            "POST",
            f"/api/v1/staff/cases/{case_id}/actions",
            headers=clerk,
            json={
                "action": "request_supplement",
                "defects": [
                    {"material_type": "health_check_report", "reason": "体检报告已超过6个月，请提供近6个月内的报告"},
                    {"field": "major", "reason": "所学专业与学历证书不一致"},
                ],
            },
        )
        await self.upload(who, case_id, "health_check_report")
        await self.ok("POST", f"/api/v1/cases/{case_id}/submit", headers=who)
        detail = await self.ok(
            "POST",
            f"/api/v1/staff/cases/{case_id}/actions",
            headers=clerk,
            json={"action": "accept", "opinion": "材料齐全，予以受理"},
        )
        assert detail["status"] == "accepted" and detail["events_total"] == 5, detail
        return case_id


# ----------------------------------------------------------------------------------------------- SQL copies


def _columns(table: Any, *skip: str) -> list[str]:
    return [c.name for c in table.columns if c.name not in ("id", *skip)]


async def _clone_cases(
    conn: AsyncConnection, template: int, n: int, serial_prefix: str, applicant_id: int, overrides: dict[str, str]
) -> list[int]:
    """n copies of a case row; ``overrides`` maps column → SQL expression (``g`` is 1..n, ``c`` the template)."""
    overrides = {
        "serial_no": f"'{serial_prefix}' || lpad(g::text, 10, '0')",
        "applicant_id": str(applicant_id),
        **overrides,
    }
    cols = _columns(Case.__table__)
    exprs = [overrides.get(col, f"c.{col}") for col in cols]
    rows = await conn.execute(
        text(
            f"INSERT INTO cases ({', '.join(cols)}) SELECT {', '.join(exprs)} "
            f"FROM cases c CROSS JOIN generate_series(1, :n) AS g WHERE c.id = :tpl RETURNING id"
        ),
        {"n": n, "tpl": template},
    )
    return sorted(r[0] for r in rows)


async def _clone_children(
    conn: AsyncConnection, table: Any, template: int, serial_prefix: str, where: str = "TRUE"
) -> None:
    """Copy the template case's rows of ``table`` to every case whose serial number has the prefix."""
    cols = _columns(table, "case_id")
    await conn.execute(
        text(
            f"INSERT INTO {table.name} (case_id, {', '.join(cols)}) "
            f"SELECT n.id, {', '.join('t.' + c for c in cols)} FROM {table.name} t "
            f"JOIN cases n ON n.serial_no LIKE :pattern WHERE t.case_id = :tpl AND {where} ORDER BY n.id, t.id"
        ),
        {"pattern": serial_prefix + "%", "tpl": template},
    )


async def _add_events(conn: AsyncConnection, case_id: int, n: int) -> None:
    """n more timeline lines on one case, after its existing ones (as a long review with many rounds would)."""
    await conn.execute(
        text("""
        INSERT INTO case_events (case_id, at, actor_type, actor_id, actor_name, action, from_status, to_status,
                                 step_key, opinion, data)
        SELECT c.id, c.accepted_at + make_interval(mins => g), 'staff', s.id, s.name,
               (ARRAY['extend', 'suspend', 'resume', 'request_supplement'])[1 + g % 4], c.status, c.status,
               c.step_key, '第' || g || '轮审核意见：材料需进一步核实，已联系申请人说明情况。',
               CASE WHEN g % 4 = 0 THEN '{"days": 1}'::jsonb END
        FROM cases c CROSS JOIN generate_series(1, :n) AS g
        JOIN staff s ON s.username = 'shenhe'
        WHERE c.id = :case_id ORDER BY g"""),
        {"case_id": case_id, "n": n},
    )
    await conn.execute(text("UPDATE cases SET event_count = event_count + :n WHERE id = :id"), {"n": n, "id": case_id})


# A spread of the statuses a department's cases are in (20 buckets, by g % 20), with the step pointer each
# status has on this item's process (0 pre_accept, 2 review, 3 leader_sign, 4 make_licence, 5 conclude).
_TASK_STATUS = """CASE
    WHEN g % 20 < 4 THEN 'submitted' WHEN g % 20 < 9 THEN 'accepted' WHEN g % 20 < 11 THEN 'accepted'
    WHEN g % 20 < 12 THEN 'suspended' WHEN g % 20 < 14 THEN 'approved' WHEN g % 20 < 16 THEN 'concluded'
    WHEN g % 20 < 18 THEN 'delivered' WHEN g % 20 < 19 THEN 'withdrawn' ELSE 'denied' END"""
_TASK_STEP = """CASE
    WHEN g % 20 < 4 THEN 0 WHEN g % 20 < 9 THEN 2 WHEN g % 20 < 11 THEN 3 WHEN g % 20 < 12 THEN 2
    WHEN g % 20 < 14 THEN 4 WHEN g % 20 < 16 THEN 5 END"""
_FINISHED = "g % 20 >= 14"


async def _task_cases(conn: AsyncConnection, template: int, applicant_id: int, n: int) -> int:
    steps_json = (
        await conn.execute(
            text("SELECT p.steps FROM cases c JOIN process_versions p ON p.id = c.process_version_id WHERE c.id = :id"),
            {"id": template},
        )
    ).scalar_one()
    keys = ", ".join(f"'{s['step']}'" for s in steps_json)
    roles = ", ".join(f"'{s['role']}'" for s in steps_json)
    step = f"({_TASK_STEP})"
    ids = await _clone_cases(
        conn,
        template,
        n,
        "BT",
        applicant_id,
        {
            "applicant_name": "'申请人' || g",
            "status": _TASK_STATUS,
            "step_index": step,
            "step_key": f"(ARRAY[{keys}])[{step} + 1]",
            "step_role": f"(ARRAY[{roles}])[{step} + 1]",
            "created_at": "c.created_at - make_interval(hours => g)",
            "submitted_at": "c.submitted_at - make_interval(hours => g)",
            "accepted_at": "CASE WHEN g % 20 >= 4 THEN c.accepted_at - make_interval(hours => g) END",
            "due_date": "CASE WHEN g % 20 >= 4 THEN c.due_date + (g % 17 - 6) END",
            "paused_since": "CASE WHEN g % 20 = 11 THEN c.accepted_at - make_interval(hours => g % 50) END",
            "paused_days_left": "CASE WHEN g % 20 = 11 THEN g % 7 - 2 END",
            "finished_at": f"CASE WHEN {_FINISHED} THEN c.accepted_at - make_interval(mins => g) END",
            "updated_at": "c.updated_at - make_interval(mins => g)",
        },
    )
    await _clone_children(conn, CaseEvent.__table__, template, "BT")
    await conn.execute(
        text(
            "UPDATE cases SET event_count = (SELECT count(*) FROM case_events e "
            "WHERE e.case_id = cases.id) WHERE serial_no LIKE 'BT%'"
        )
    )
    return len(ids)


async def add_drafts(urls: Urls, fx: Fixture, n: int, batch: int) -> list[int]:
    """n fresh copies of the complete draft (case row with its encrypted form, materials, ``create`` event).
    Each batch has its own serial prefix (BDA…, BDB…) so batches can be added between runs."""
    from case_core.db import make_engine

    prefix = "BD" + chr(ord("A") + batch)
    engine = make_engine(urls.async_url)
    try:
        async with engine.begin() as conn:
            ids = await _clone_cases(conn, fx.draft_template, n, prefix, fx.submit_applicant_id, {})
            await _clone_children(conn, Material.__table__, fx.draft_template, prefix, "t.state = 'active'")
            await _clone_children(conn, CaseEvent.__table__, fx.draft_template, prefix)
    finally:
        await engine.dispose()
    return ids


# ----------------------------------------------------------------------------------------------- entry point


async def seed(urls: Urls, data_dir: Path, secret: str, task_cases: int = TASK_CASES, log: Any = print) -> Fixture:
    from case_core import calendar
    from case_core.db import make_engine, make_sessionmaker
    from mobile_api.app import create_app
    from mobile_api.demo import load_demo

    with FakeWeChat() as wx:
        settings = bench_settings(urls, data_dir, secret, wx.url)
        engine = make_engine(urls.async_url)
        async with make_sessionmaker(engine)() as session, session.begin():
            await load_demo(session, settings)
        calendar.invalidate()
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            w = _Walker(client)
            detail_who, detail_id = await w.applicant("bench-detail")
            submit_who, submit_id = await w.applicant("bench-submit")
            _, tasks_id = await w.applicant("bench-tasks")
            clerk = await w.staff("shouli")
            log("walking two cases to accepted through the API")
            case_5 = await w.accepted_case(detail_who, clerk)
            case_500 = await w.accepted_case(detail_who, clerk)
            template = await w.complete_draft(submit_who)
            probe = await w.complete_draft(submit_who)
        await app.state.engine.dispose()

    async with engine.begin() as conn:
        item_id = (await conn.execute(text("SELECT item_id FROM cases WHERE id = :id"), {"id": case_5})).scalar_one()
        await _add_events(conn, case_500, EXTRA_EVENTS)
        log(f"cloning {task_cases} cases for the staff task list")
        n_tasks = await _task_cases(conn, case_5, tasks_id, task_cases)
    # Fresh statistics after the bulk load, as autovacuum would have them on a live system.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    await engine.dispose()
    return Fixture(
        detail_token=detail_who["Authorization"].split()[1],
        submit_token=submit_who["Authorization"].split()[1],
        staff_token=clerk["Authorization"].split()[1],
        applicant_id=detail_id,
        item_id=item_id,
        case_5=case_5,
        case_500=case_500,
        probe_draft=probe,
        draft_template=template,
        submit_applicant_id=submit_id,
        task_cases=n_tasks,
    )


async def count_submitted(urls: Urls, ids: list[int]) -> int:
    import asyncpg

    conn = await asyncpg.connect(urls.dsn)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM cases WHERE id = ANY($1::int[]) AND status = 'submitted'", ids)
        )
    finally:
        await conn.close()


def new_data_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="weijian-bench-"))
