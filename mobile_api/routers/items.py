"""The catalogue: service items with their self-check information, materials, form and process (6.2.1)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from case_core import catalogue
from case_core.models import FormVersion, ProcessVersion, ServiceItem
from mobile_api.deps import SessionDep

router = APIRouter(prefix="/items", tags=["catalogue"])


@router.get("")
async def list_items(session: SessionDep, category: str | None = None, q: str | None = None) -> dict:
    stmt = select(ServiceItem).order_by(ServiceItem.code)
    if category:
        stmt = stmt.where(ServiceItem.category == category)
    if q:
        stmt = stmt.where(ServiceItem.name.contains(q.strip(), autoescape=True))
    items = (await session.scalars(stmt)).all()
    return {"items": [catalogue.item_summary(i) for i in items]}


@router.get("/{code}")
async def get_item(code: str, session: SessionDep) -> dict:
    item = await catalogue.get_item(session, code)
    form = await session.get(FormVersion, item.form_version_id)
    process = await session.get(ProcessVersion, item.process_version_id)
    assert form is not None and process is not None
    return catalogue.item_detail(item, form, process, await catalogue.material_type_names(session))
