"""The applicant's e-licences (电子证照)."""

from __future__ import annotations

from fastapi import APIRouter

from case_core import queries
from mobile_api.deps import CurrentApplicant, SessionDep

router = APIRouter(tags=["licences"])


@router.get("/licences")
async def list_licences(session: SessionDep, applicant: CurrentApplicant) -> dict:
    return {"items": await queries.applicant_licences(session, applicant.id)}
