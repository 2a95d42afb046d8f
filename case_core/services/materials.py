"""Materials of a case (6.2.3): upload, replace (a new version), delete, and reuse of an earlier unexpired one."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.catalogue import get_item
from case_core.context import CoreContext
from case_core.crypto import sha256_hex
from case_core.domain.errors import Conflict, NotFound, ValidationFailed
from case_core.domain.states import EDITABLE_STATUSES
from case_core.models import Case, Material, MaterialType
from case_core.principals import ApplicantPrincipal
from case_core.timeutil import local_date
from case_core.uploads import check_file, safe_filename


async def active_material_types(session: AsyncSession, *, case_id: int) -> set[str]:
    rows = await session.scalars(
        select(Material.material_type).where(Material.case_id == case_id, Material.state == "active")
    )
    return set(rows.all())


def material_out(m: Material, names: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": m.id,
        "material_type": m.material_type,
        "name": (names or {}).get(m.material_type, m.material_type),
        "version": m.version,
        "filename": m.filename,
        "content_type": m.content_type,
        "size": m.size,
        "sha256": m.sha256,
        "source": m.source,
        "valid_until": m.valid_until.isoformat() if m.valid_until else None,
        "created_at": m.created_at.isoformat(),
        "check": m.check_doc,  # the machine reading (ocr package), masked; None when never checked
    }


async def _editable_case(session: AsyncSession, case_id: int, applicant: ApplicantPrincipal) -> Case:
    case = await session.get(Case, case_id)
    if case is None or case.applicant_id != applicant.id:
        raise NotFound("办件")
    if case.status not in EDITABLE_STATUSES:
        raise Conflict("办件已提交，不能再修改材料", status=case.status)
    return case


async def _check_type(session: AsyncSession, case: Case, material_type: str) -> MaterialType:
    item = await get_item(session, case.item_code)
    if material_type not in item.material_ids:
        raise ValidationFailed(f"该事项不需要“{material_type}”这项材料", material_type=material_type)
    mtype = await session.get(MaterialType, material_type)
    if mtype is None:
        raise ValidationFailed(f"未知的材料类型“{material_type}”", material_type=material_type)
    return mtype


def _valid_until(mtype: MaterialType, uploaded: date) -> date | None:
    """An upper bound for reuse. Rules that need the document's own dates are refined by OCR (ocr package)."""
    rule = mtype.data.get("validity") or {}
    if rule.get("rule") == "months_from_field":
        months = int(rule.get("months") or 0)
        y, m = divmod(uploaded.month - 1 + months, 12)
        try:
            return uploaded.replace(year=uploaded.year + y, month=m + 1)
        except ValueError:
            return uploaded.replace(year=uploaded.year + y, month=m + 1, day=28)
    return None


def _reusable(mtype: MaterialType) -> bool:
    return (mtype.data.get("validity") or {}).get("rule") != "per_application"


async def refresh_doc(session: AsyncSession, case: Case) -> None:
    """Rewrite the case's denormalised material list (read by the detail endpoint in the same row)."""
    await session.flush()
    rows = (
        await session.scalars(
            select(Material).where(Material.case_id == case.id, Material.state == "active").order_by(Material.id)
        )
    ).all()
    names = {r.id: r.name for r in await session.execute(select(MaterialType.id, MaterialType.name))}
    case.materials_doc = [material_out(m, names) for m in rows]


async def upload(
    session: AsyncSession,
    ctx: CoreContext,
    *,
    case_id: int,
    applicant: ApplicantPrincipal,
    material_type: str,
    filename: str | None,
    data: bytes,
    now: datetime,
    replaces: int | None = None,
) -> Material:
    case = await _editable_case(session, case_id, applicant)
    mtype = await _check_type(session, case, material_type)
    # Decoding a 20 MB photo takes a while: keep it (and the disk write) off the event loop.
    checked = await asyncio.to_thread(check_file, data, ctx.limits)
    version = 1
    if replaces is not None:
        old = await session.get(Material, replaces)
        if old is None or old.case_id != case.id or old.state != "active":
            raise NotFound("材料")
        if old.material_type != material_type:
            raise ValidationFailed("替换的材料类型不一致")
        old.state = "replaced"
        version = old.version + 1
    # Only now that everything is checked is the file kept.
    key = await asyncio.to_thread(ctx.storage.put, data)
    material = Material(
        case_id=case.id,
        applicant_id=applicant.id,
        material_type=material_type,
        version=version,
        filename=safe_filename(filename, checked.content_type),
        content_type=checked.content_type,
        size=len(data),
        sha256=sha256_hex(data),
        storage_key=key,
        source="upload",
        state="active",
        valid_until=_valid_until(mtype, local_date(now)) if _reusable(mtype) else None,
        created_at=now,
    )
    session.add(material)
    case.updated_at = now
    await refresh_doc(session, case)
    await session.flush()
    return material


async def delete(
    session: AsyncSession, *, case_id: int, applicant: ApplicantPrincipal, material_id: int, now: datetime
) -> None:
    case = await _editable_case(session, case_id, applicant)
    material = await session.get(Material, material_id)
    if material is None or material.case_id != case.id or material.state != "active":
        raise NotFound("材料")
    material.state = "deleted"
    case.updated_at = now
    await refresh_doc(session, case)
    await session.flush()


async def reusable(
    session: AsyncSession, *, applicant: ApplicantPrincipal, today: date, material_type: str | None = None
) -> list[Material]:
    """The applicant's earlier uploads that may be reused: not per-application, not expired, latest per file."""
    q = (
        select(Material)
        .join(MaterialType, MaterialType.id == Material.material_type)
        .where(
            Material.applicant_id == applicant.id,
            Material.source == "upload",
            Material.state.in_(("active", "replaced")),
            (Material.valid_until.is_(None)) | (Material.valid_until >= today),
        )
    )
    if material_type:
        q = q.where(Material.material_type == material_type)
    rows = (await session.scalars(q.order_by(Material.id.desc()))).all()
    seen: set[tuple[str, str]] = set()
    out = []
    for m in rows:
        mtype = await session.get(MaterialType, m.material_type)
        if mtype is None or not _reusable(mtype) or (m.sha256, m.material_type) in seen:
            continue
        seen.add((m.sha256, m.material_type))
        out.append(m)
    return out


async def reuse(
    session: AsyncSession, *, case_id: int, applicant: ApplicantPrincipal, material_id: int, now: datetime
) -> Material:
    case = await _editable_case(session, case_id, applicant)
    source = await session.get(Material, material_id)
    if source is None or source.applicant_id != applicant.id or source.state == "deleted":
        raise NotFound("材料")
    mtype = await _check_type(session, case, source.material_type)
    today = local_date(now)
    if not _reusable(mtype):
        raise ValidationFailed(f"“{mtype.name}”须随本次申请出具，不能复用历史材料")
    if source.valid_until is not None and source.valid_until < today:
        raise ValidationFailed(f"“{mtype.name}”已过有效期，请重新上传")
    dup = await session.scalar(
        select(func.count()).where(
            Material.case_id == case.id,
            Material.state == "active",
            Material.sha256 == source.sha256,
            Material.material_type == source.material_type,
        )
    )
    if dup:
        raise Conflict("该材料已在本办件中")
    material = Material(
        case_id=case.id,
        applicant_id=applicant.id,
        material_type=source.material_type,
        version=1,
        filename=source.filename,
        content_type=source.content_type,
        size=source.size,
        sha256=source.sha256,
        storage_key=source.storage_key,
        source="reuse",
        reused_from_id=source.id,
        state="active",
        valid_until=source.valid_until,
        created_at=now,
    )
    session.add(material)
    case.updated_at = now
    await refresh_doc(session, case)
    await session.flush()
    return material
