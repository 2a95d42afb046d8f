"""`weijian demo`: the demo dataset (catalogue, calendar) and demo staff accounts. Idempotent."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import calendar, catalogue
from case_core.domain.states import Role
from case_core.models import Staff
from case_core.services.accounts import hash_password
from case_core.settings import Settings
from case_core.timeutil import utcnow
from knowledge_base import seed as kb_seed

DEMO_DEPARTMENT = "广东省卫生健康委员会"
DEMO_STAFF: dict[str, tuple[str, tuple[str, ...]]] = {
    "shouli": ("收件受理员", (Role.WINDOW_CLERK, Role.ACCEPTOR)),
    "shenhe": ("审核员", (Role.HANDLER, Role.INSPECTOR, Role.EXPERT_PANEL, Role.COMMUNITY_WORKER)),
    "qianpi": ("签批领导", (Role.LEADER,)),
    "zhizheng": ("制证员", (Role.LICENCE_MAKER,)),
    "admin": ("系统管理员", (Role.ADMIN, Role.PII_READER)),
    "zixun": ("咨询坐席", (Role.CONSULT_AGENT,)),
    "zixunzz": ("咨询组长", (Role.CONSULT_AGENT, Role.KB_REVIEWER)),
}


async def create_staff(
    session: AsyncSession, *, username: str, name: str, roles: tuple[str, ...], department: str, password: str
) -> tuple[Staff, bool]:
    """Create a staff account unless it exists (an existing one is left as it is). Returns (staff, created)."""
    existing = await session.scalar(select(Staff).where(Staff.username == username))
    if existing is not None:
        return existing, False
    dept = await catalogue.ensure_department(session, department)
    staff = Staff(
        username=username,
        name=name,
        password_hash=hash_password(password),
        department_id=dept.id,
        roles=[str(r) for r in roles],
        active=True,
        failed_logins=0,
        created_at=utcnow(),
    )
    session.add(staff)
    await session.flush()
    return staff, True


async def load_demo(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    now = utcnow()
    report: dict[str, Any] = await catalogue.load_seed(session, settings.seed_dir, now)
    report["calendar_years_added"] = await calendar.seed_from_chinesecalendar(session, now)
    report["knowledge_base"] = await kb_seed.load_seed(session, settings.seed_dir, now)
    password = settings.demo_password or secrets.token_urlsafe(9)
    created = []
    for username, (name, roles) in DEMO_STAFF.items():
        _, was_created = await create_staff(
            session, username=username, name=name, roles=roles, department=DEMO_DEPARTMENT, password=password
        )
        if was_created:
            created.append(username)
    report["staff_created"] = created
    report["password"] = password if created and not settings.demo_password else None
    return report
