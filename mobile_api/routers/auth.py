"""Login: applicants through the WeChat mini-program (code2session), staff with username and password."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel, Field

from case_core.domain.errors import TooManyRequests
from case_core.services import accounts
from case_core.timeutil import utcnow  # tokens expire by the wall clock, not the business clock
from mobile_api.deps import InfoDep, NowDep, SessionDep, StateDep

router = APIRouter(prefix="/auth", tags=["auth"])


class WeChatLogin(BaseModel):
    code: str = Field(min_length=1, max_length=128)


class StaffLogin(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@router.post("/wechat-login")
async def wechat_login(body: WeChatLogin, session: SessionDep, state: StateDep, info: InfoDep, now: NowDep) -> dict:
    if not await state.limiter.hit(f"wxlogin:{info.ip}", limit=30, window_seconds=60):
        raise TooManyRequests("登录过于频繁，请稍后再试")
    wx = await asyncio.to_thread(state.wechat.code_to_session, body.code)
    person = await accounts.applicant_for_openid(session, openid=wx.openid, unionid=wx.unionid, now=now)
    return {
        "access_token": state.tokens.for_applicant(person.id, utcnow()),
        "token_type": "bearer",
        "applicant_id": person.id,
    }


@router.post("/staff-login")
async def staff_login(body: StaffLogin, session: SessionDep, state: StateDep, info: InfoDep, now: NowDep) -> dict:
    if not await state.limiter.hit(f"stafflogin:{info.ip}", limit=60, window_seconds=60):
        raise TooManyRequests("登录过于频繁，请稍后再试")
    s = state.settings
    outcome = await accounts.authenticate_staff(
        session,
        username=body.username,
        password=body.password,
        now=now,
        max_failures=s.login_max_failures,
        lockout=timedelta(minutes=s.login_lockout_minutes),
        info=info,
    )
    if outcome.error is not None:
        await session.commit()  # keep the failure count and the audit row
        raise outcome.error
    assert outcome.staff is not None
    principal = await accounts.staff_principal(session, outcome.staff)
    return {
        "access_token": state.tokens.for_staff(principal, utcnow()),
        "token_type": "bearer",
        "staff_id": principal.id,
        "name": principal.name,
        "roles": sorted(principal.roles),
        # True: the password was set by an admin; every endpoint but /staff/me/password and /auth/logout answers
        # 403 password_change_required until its owner chooses one.
        "must_change_password": principal.must_change_password,
    }
