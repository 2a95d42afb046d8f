"""Checking an uploaded material: run the OCR in the worker pool, keep the result with the material, tell the
applicant. The upload answers with the result when it is ready within a short wait; otherwise the check
finishes in the background and the applicant learns it by polling the material or over the WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.context import CoreContext
from case_core.crypto import FieldCipher
from case_core.models import Applicant, Case, Material, MaterialCheck
from case_core.services import materials as material_service
from case_core.services.cases import read_secret
from case_core.timeutil import utcnow
from ocr import registry
from ocr.checks import add_months, mask_id
from ocr.pool import OcrTimeout, Runner

log = logging.getLogger("weijian.ocr")

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]
# Values that identify a person are masked wherever they leave the encrypted store.
_MASKED = {"id_number", "mother_id_number"}
_PARTLY = {"address", "registered_address"}
# Form keys of the catalogue (data/items.yaml) → the keys the material check compares.
FORM_KEYS = {
    "applicant_name": "name",
    "name": "name",
    "id_number": "id_number",
    "legal_representative": "legal_representative",
    "entity_name": "entity_name",
    "institution_name": "institution_name",
    "unit_name": "unit_name",
    "uscc": "uscc",
}


@dataclass
class CheckContext:
    sessions: async_sessionmaker[AsyncSession]
    ctx: CoreContext
    pool: Runner
    publish: Publish | None = None
    wait_seconds: float = 4.0
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def drain(self) -> None:
        """Wait for the checks still running (shutdown, tests)."""
        while self.tasks:
            await asyncio.gather(*tuple(self.tasks), return_exceptions=True)


def mask_value(key: str, value: str) -> str:
    if key in _MASKED:
        return mask_id(value)
    if key in _PARTLY:
        return value[:6] + "…" if len(value) > 6 else value
    return value


async def typed_values(session: AsyncSession, ctx: CoreContext, case: Case) -> dict[str, str]:
    """What the applicant typed for this case, and their profile where the form says nothing."""
    form = read_secret(ctx, case).get("form", {})
    out = {FORM_KEYS[k]: str(v) for k, v in form.items() if k in FORM_KEYS and v}
    applicant = await session.get(Applicant, case.applicant_id)
    if applicant is not None:
        if applicant.name and "name" not in out:
            out["name"] = applicant.name
        if applicant.id_number_enc and "id_number" not in out:
            out["id_number"] = ctx.cipher.decrypt(applicant.id_number_enc)
    return out


def summary(result: dict[str, Any] | None, typed: dict[str, str], *, status: str) -> dict[str, Any]:
    """The masked view kept on the material: what was read beside what was typed, and the findings."""
    if result is None:
        return {"status": status}
    fields = result.get("fields", {})
    compare = [
        {
            "field": key,
            "read": mask_value(key, value),
            "typed": mask_value(key, typed[key]) if key in typed else None,
            "match": (typed[key].strip().upper() == value.upper()) if key in typed else None,
        }
        for key, value in fields.items()
    ]
    return {
        "status": status,
        "material_type": result.get("material_type"),
        "confidence": result.get("confidence"),
        "findings": result.get("findings", []),
        "fields": compare,
        "ok": not any(f["severity"] == "error" for f in result.get("findings", [])),
    }


def valid_until(material_type: str, fields: dict[str, str]) -> date | None:
    spec = registry.load().get(material_type)
    if spec is None:
        return None
    rule = spec.validity
    try:
        if rule.get("rule") == "date_range" and fields.get(rule.get("to_field", "")) not in (None, "长期"):
            return date.fromisoformat(fields[rule["to_field"]])
        if rule.get("rule") == "expiry_field" and fields.get(rule.get("field", "")) not in (None, "长期"):
            return date.fromisoformat(fields[rule["field"]])
        if rule.get("rule") == "months_from_field" and fields.get(rule.get("field", "")):
            return add_months(date.fromisoformat(fields[rule["field"]]), int(rule.get("months", 0)))
    except ValueError:
        return None
    return None


def _store(check: MaterialCheck, cipher: FieldCipher, result: dict[str, Any], now: datetime) -> None:
    check.status = "done"
    check.material_type = result.get("material_type")
    check.confidence = result.get("confidence")
    check.findings = result.get("findings", [])
    check.fields_enc = cipher.encrypt_json(result.get("fields", {}))
    check.text_enc = cipher.encrypt_json(result.get("text", []))
    check.timings = result.get("timings_ms")
    check.finished_at = now


async def _save(cc: CheckContext, material_id: int, result: dict[str, Any] | None, error: str | None) -> dict:
    """Write the outcome in its own short transaction and refresh the case's material list."""
    async with cc.sessions() as session, session.begin():
        material = await session.get(Material, material_id)
        check = await session.scalar(select(MaterialCheck).where(MaterialCheck.material_id == material_id))
        if material is None or check is None:
            return {"status": "gone"}
        case = await session.get(Case, material.case_id)
        assert case is not None
        now = utcnow()
        if result is not None:
            _store(check, cc.ctx.cipher, result, now)
            typed = await typed_values(session, cc.ctx, case)
            material.check_doc = summary(result, typed, status="done")
            if result.get("material_type") == material.material_type:
                # The document's own dates bound how long it may be reused (case_core.services.materials).
                until = valid_until(material.material_type, result.get("fields", {}))
                if until is not None:
                    material.valid_until = until
        else:
            check.status, check.error, check.finished_at = "failed", error, now
            material.check_doc = {"status": "failed", "error": error}
        await material_service.refresh_doc(session, case)
        doc = dict(material.check_doc)
        applicant_id, case_id = case.applicant_id, case.id
    if cc.publish is not None:
        try:
            await cc.publish(
                f"applicant:{applicant_id}",
                {"type": "material.checked", "case_id": case_id, "material_id": material_id, "check": doc},
            )
        except Exception:  # a lost notification must not lose the result; the material can be polled
            log.exception("could not publish the material check")
    return doc


async def _outcome(job: asyncio.Future[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return await job, None
    except OcrTimeout:
        return None, "ocr_timeout"
    except Exception:
        log.exception("material check failed")
        return None, "ocr_failed"


async def check_material(
    cc: CheckContext, *, material_id: int, data: bytes, expect: str, form: dict[str, str], today: date
) -> dict[str, Any]:
    """Run the check for a committed material. Returns the material's ``check`` document: the finished one
    when it is ready within ``wait_seconds``, else ``{"status": "pending"}`` while it finishes in the
    background. Nothing here holds a database transaction open while the OCR runs."""
    async with cc.sessions() as session, session.begin():
        session.add(MaterialCheck(material_id=material_id, status="pending", findings=[], created_at=utcnow()))
        material = await session.get(Material, material_id)
        case = await session.get(Case, material.case_id) if material is not None else None
        if material is not None and case is not None:
            material.check_doc = {"status": "pending"}
            await material_service.refresh_doc(session, case)
    job = asyncio.ensure_future(cc.pool.inspect(data, expect=expect, form=form, today=today))
    done, _ = await asyncio.wait({job}, timeout=cc.wait_seconds)
    if done:
        return await _save(cc, material_id, *(await _outcome(job)))

    async def finish() -> None:
        await _save(cc, material_id, *(await _outcome(job)))

    task = asyncio.create_task(finish())
    cc.tasks.add(task)
    task.add_done_callback(cc.tasks.discard)
    return {"status": "pending"}
