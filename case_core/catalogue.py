"""The catalogue of service items (事项) and material types, loaded from the seed YAML in ``data/``.

Loading is idempotent: an item whose form or process changed gets a new version, an unchanged one nothing, so
running cases keep the versions they started with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain.errors import NotFound
from case_core.domain.forms import FieldDef
from case_core.domain.transitions import StepDef
from case_core.models import Department, FormVersion, MaterialType, ProcessVersion, ServiceItem

# The implementing bodies of the seed catalogue, with their administrative-division codes; a staff member of a
# department sees the cases of the departments below it.
KNOWN_DEPARTMENTS: dict[str, tuple[str, str | None]] = {
    "广东省卫生健康委员会": ("440000", None),
    "广州市卫生健康委员会": ("440100", "440000"),
    "广州市天河区卫生健康局": ("440106", "440100"),
}

CATEGORIES = ("行政许可", "行政处罚", "行政强制", "行政征收", "行政给付", "行政检查", "行政确认", "公共服务")


def steps_from_data(rows: list[dict[str, Any]]) -> tuple[StepDef, ...]:
    return tuple(
        StepDef(
            key=r["step"],
            name=r.get("name", r["step"]),
            role=r["role"],
            time_limit_working_days=int(r.get("time_limit_working_days") or 0),
            counts_toward_limit=bool(r.get("counts_toward_limit", True)),
        )
        for r in rows
    )


def fields_from_data(rows: list[dict[str, Any]]) -> tuple[FieldDef, ...]:
    return tuple(FieldDef.from_dict(r) for r in rows)


async def ensure_department(session: AsyncSession, name: str) -> Department:
    dept = await session.scalar(select(Department).where(Department.name == name))
    if dept is not None:
        return dept
    code, parent_code = KNOWN_DEPARTMENTS.get(name, (None, None))
    parent = None
    if parent_code:
        parent_name = next(n for n, (c, _) in KNOWN_DEPARTMENTS.items() if c == parent_code)
        parent = await ensure_department(session, parent_name)
    if code is None:
        count = await session.scalar(select(func.count()).select_from(Department)) or 0
        code = f"D{count + 1:05d}"
    dept = Department(code=code, name=name, path=(parent.path if parent else "/") + code + "/")
    session.add(dept)
    await session.flush()
    return dept


async def load_material_types(session: AsyncSession, path: Path) -> int:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))  # noqa: ASYNC240 (seed loading, CLI only)
    existing = {m.id: m for m in (await session.scalars(select(MaterialType))).all()}
    for m in doc["materials"]:
        row = existing.get(m["id"])
        if row is None:
            session.add(MaterialType(id=m["id"], name=m["name"], category=m.get("category"), data=m))
        elif row.data != m:
            row.name, row.category, row.data = m["name"], m.get("category"), m
    await session.flush()
    return len(doc["materials"])


async def _version(
    session: AsyncSession,
    model: Any,
    item_id: int,
    payload_attr: str,
    payload: list[Any],
    current_id: int | None,
    now: datetime,
) -> int:
    if current_id is not None:
        current = await session.get(model, current_id)
        if current is not None and getattr(current, payload_attr) == payload:
            return current_id
    last = await session.scalar(select(func.max(model.version)).where(model.item_id == item_id)) or 0
    row = model(item_id=item_id, version=last + 1, created_at=now, **{payload_attr: payload})
    session.add(row)
    await session.flush()
    return int(row.id)


async def upsert_item(session: AsyncSession, data: dict[str, Any], now: datetime) -> ServiceItem:
    """Create or update one item from its catalogue entry; new form/process versions only when they change."""
    dept = await ensure_department(session, data["implementing_body"])
    item = await session.scalar(select(ServiceItem).where(ServiceItem.code == data["code"]))
    columns = dict(
        name=data["name"],
        category=data["category"],
        department_id=dept.id,
        promised_limit_working_days=int(data["promised_limit_working_days"]),
        legal_limit_working_days=int(data["legal_limit_working_days"]),
        online_available=bool(data.get("online_available", True)),
    )
    if item is None:
        item = ServiceItem(code=data["code"], data=data, updated_at=now, **columns)
        session.add(item)
        await session.flush()
    else:
        if item.data != data:
            item.data, item.updated_at = data, now
        for key, value in columns.items():
            if getattr(item, key) != value:
                setattr(item, key, value)
    item.form_version_id = await _version(
        session, FormVersion, item.id, "fields", data.get("form") or [], item.form_version_id, now
    )
    item.process_version_id = await _version(
        session, ProcessVersion, item.id, "steps", data.get("process") or [], item.process_version_id, now
    )
    await session.flush()
    invalidate()
    return item


async def load_items(session: AsyncSession, path: Path, now: datetime) -> int:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))  # noqa: ASYNC240 (seed loading, CLI only)
    for entry in doc["items"]:
        await upsert_item(session, entry, now)
    return len(doc["items"])


async def load_seed(session: AsyncSession, seed_dir: Path, now: datetime) -> dict[str, int]:
    invalidate()
    return {
        "material_types": await load_material_types(session, seed_dir / "materials.yaml"),
        "items": await load_items(session, seed_dir / "items.yaml", now),
    }


# ----------------------------------------------------------------------------------------------- cache
# The catalogue changes rarely and every write path reads it. Versions are immutable (editing adds a version), so
# they are cached for good; items and material types for CACHE_SECONDS per process (a load in this process
# invalidates at once; other workers see it within CACHE_SECONDS).

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class ItemInfo:
    """A read-only snapshot of an item, safe to share between requests."""

    id: int
    code: str
    name: str
    category: str
    department_id: int
    promised_limit_working_days: int
    legal_limit_working_days: int
    online_available: bool
    data: dict[str, Any]
    form_version_id: int
    process_version_id: int

    @property
    def material_ids(self) -> frozenset[str]:
        return frozenset(m["material_id"] for m in self.data.get("materials", []))


_items: dict[str, tuple[float, ItemInfo]] = {}
_versions: dict[tuple[int, int], tuple[tuple[FieldDef, ...], tuple[StepDef, ...]]] = {}
_names: tuple[float, dict[str, str]] | None = None


def invalidate(*, versions: bool = False) -> None:
    """Drop cached items and names; ``versions=True`` also drops versions (only when switching databases)."""
    global _names
    _items.clear()
    _names = None
    if versions:
        _versions.clear()


def _snapshot(item: ServiceItem) -> ItemInfo:
    assert item.form_version_id is not None and item.process_version_id is not None
    return ItemInfo(
        id=item.id,
        code=item.code,
        name=item.name,
        category=item.category,
        department_id=item.department_id,
        promised_limit_working_days=item.promised_limit_working_days,
        legal_limit_working_days=item.legal_limit_working_days,
        online_available=item.online_available,
        data=item.data,
        form_version_id=item.form_version_id,
        process_version_id=item.process_version_id,
    )


async def get_item(session: AsyncSession, code: str) -> ItemInfo:
    hit = _items.get(code)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    item = await session.scalar(select(ServiceItem).where(ServiceItem.code == code))
    if item is None:
        raise NotFound("事项")
    info = _snapshot(item)
    _items[code] = (time.monotonic(), info)
    return info


async def versions_for(
    session: AsyncSession, form_version_id: int, process_version_id: int
) -> tuple[tuple[FieldDef, ...], tuple[StepDef, ...]]:
    key = (form_version_id, process_version_id)
    hit = _versions.get(key)
    if hit is not None:
        return hit
    form = await session.get(FormVersion, form_version_id)
    process = await session.get(ProcessVersion, process_version_id)
    assert form is not None and process is not None
    result = fields_from_data(form.fields), steps_from_data(process.steps)
    _versions[key] = result
    return result


async def material_type_names(session: AsyncSession) -> dict[str, str]:
    global _names
    if _names is not None and time.monotonic() - _names[0] < CACHE_SECONDS:
        return _names[1]
    rows = await session.execute(select(MaterialType.id, MaterialType.name))
    names = {r.id: r.name for r in rows}
    _names = (time.monotonic(), names)
    return names


def item_summary(item: ServiceItem | ItemInfo) -> dict[str, Any]:
    d = item.data
    return {
        "code": item.code,
        "name": item.name,
        "category": item.category,
        "implementing_body": d.get("implementing_body"),
        "service_object": d.get("service_object"),
        "promised_limit_working_days": item.promised_limit_working_days,
        "legal_limit_working_days": item.legal_limit_working_days,
        "online_available": item.online_available,
        "fee": d.get("fee"),
    }


def item_detail(item: ItemInfo, form: FormVersion, process: ProcessVersion, names: dict[str, str]) -> dict[str, Any]:
    """The self-check information of 6.2.1 plus what the mini-program needs to render the application."""
    d = item.data
    return {
        **item_summary(item),
        "implementing_note": d.get("implementing_note"),
        "legal_basis": d.get("legal_basis", []),
        "scope": d.get("scope"),
        "conditions": d.get("conditions", []),
        "max_onsite_visits": d.get("max_onsite_visits"),
        "submission_methods": d.get("submission_methods", []),
        "delivery_methods": d.get("delivery", []),
        "guide": d.get("guide"),
        "result": d.get("result"),
        "materials": [{**m, "name": names.get(m["material_id"], m["material_id"])} for m in d.get("materials", [])],
        "form": {"version": form.version, "fields": form.fields},
        "process": {"version": process.version, "steps": process.steps},
    }
