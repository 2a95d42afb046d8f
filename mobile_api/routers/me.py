"""The applicant's own profile (6.2.2). Shown masked; ``?reveal=true`` shows the owner their full values."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from case_core.domain.errors import NotFound
from case_core.models import Applicant
from case_core.services import accounts
from mobile_api.deps import CtxDep, CurrentApplicant, NowDep, SessionDep

router = APIRouter(tags=["applicant"])


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=64)
    id_type: str | None = None
    id_number: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=128)
    address: str | None = Field(default=None, max_length=300)


@router.get("/me")
async def get_me(session: SessionDep, ctx: CtxDep, applicant: CurrentApplicant, reveal: bool = False) -> dict:
    person = await session.get(Applicant, applicant.id)
    if person is None:
        raise NotFound("用户")
    return accounts.profile_out(person, ctx, reveal=reveal)


@router.put("/me")
async def put_me(body: ProfileIn, session: SessionDep, ctx: CtxDep, applicant: CurrentApplicant, now: NowDep) -> dict:
    person = await accounts.update_profile(
        session, ctx, applicant=applicant, values=body.model_dump(exclude_unset=True), now=now
    )
    return accounts.profile_out(person, ctx)
