"""A staff member binds their WeChat service-account openid: the page asks for a one-time code here, and the staff
member sends ``绑定 <code>`` to the service account (handled in ``bot_channels.wechat_message``). The rules are in
``case_core.services.staff_wechat_bind``."""

from __future__ import annotations

from fastapi import APIRouter

from case_core.domain.errors import CaseError, TooManyRequests
from case_core.services import staff_wechat_bind as svc
from mobile_api.deps import CtxDep, CurrentStaff, InfoDep, NowDep, SessionDep, StateDep

router = APIRouter(tags=["staff profile"])


class WechatUnavailable(CaseError):
    code = "wechat_unavailable"
    status = 503


@router.post("/staff/me/wechat-bind-code", status_code=201)
async def wechat_bind_code(
    session: SessionDep, state: StateDep, ctx: CtxDep, staff: CurrentStaff, now: NowDep, info: InfoDep
) -> dict:
    """A code valid for a few minutes; a new one replaces the previous. Shown to its owner only."""
    if not (state.settings.wechat_mp_appid and state.settings.wechat_mp_token):
        raise WechatUnavailable("公众号消息服务未配置，暂不能通过微信绑定")
    if not await state.limiter.hit(f"wxbindcode:{staff.id}", limit=10, window_seconds=600):
        raise TooManyRequests("获取绑定码过于频繁，请稍后再试")
    issued = await svc.issue(session, ctx, staff_id=staff.id, now=now, info=info)
    text = f"绑定 {issued.code}"
    return {
        "code": issued.code,
        "message_text": text,
        "expires_at": issued.expires_at.isoformat(),
        "expires_in_seconds": svc.CODE_MINUTES * 60,
        "instruction": f"请在{svc.CODE_MINUTES}分钟内用您本人的微信，向本单位服务号发送：{text}",
    }
