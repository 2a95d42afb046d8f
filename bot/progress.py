"""The progress answer for the query_progress form: only the asking applicant's own case, never anyone else's,
and nothing personal in it (no ID number, no phone, no address: item, status, step, dates)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import catalogue
from case_core.domain.states import STATUS_LABELS
from case_core.models import Case

FINISHED = ("concluded", "delivered", "withdrawn", "revoked", "aborted", "denied", "not_accepted")


async def describe(session: AsyncSession, applicant_id: int, serial_no: str) -> str | None:
    """The progress of the applicant's case with this serial number, or None (not theirs or no such case: the
    same answer, so a stranger learns nothing from it)."""
    case = await session.scalar(select(Case).where(Case.serial_no == serial_no, Case.applicant_id == applicant_id))
    if case is None:
        return None
    status = STATUS_LABELS.get(case.status, case.status)
    lines = [f"办件 {case.serial_no}（{case.item_name}）当前状态：{status}。"]
    if case.step_key and case.status not in FINISHED:
        _, steps = await catalogue.versions_for(session, case.form_version_id, case.process_version_id)
        step = next((s.name for s in steps if s.key == case.step_key), case.step_key)
        lines.append(f"当前环节：{step}。")
    if case.status == "supplement_requested":
        lines.append("请在“我的办件”中查看一次性告知的补正内容，按要求补正后重新提交。")
    if case.due_date and case.status not in FINISHED:
        lines.append(f"承诺办结日期：{case.due_date:%Y年%m月%d日}。")
    if case.submitted_at:
        lines.append(f"提交时间：{case.submitted_at:%Y-%m-%d}。")
    return "".join(lines)


async def own_open_serials(session: AsyncSession, applicant_id: int, limit: int = 3) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Case.serial_no, Case.item_name)
        .where(Case.applicant_id == applicant_id, Case.status.not_in(("draft", *FINISHED)))
        .order_by(Case.id.desc())
        .limit(limit)
    )
    return [(r.serial_no, r.item_name) for r in rows]
