"""SMS delivery receipts (状态报告) pushed by the providers: a message moves from ``sent`` to ``delivered`` or
``failed`` (then it is in the dead-letter list, where an operator can retry it).

The clouds do not sign these callbacks, so the URL carries a secret (``WEIJIAN_RECEIPT_TOKEN``): configure
``https://<host>/api/v1/notify/receipts/aliyun/<token>`` (Aliyun HTTP batch push of SmsReport) or
``…/tencent/<token>`` (Tencent Cloud 短信回执 callback) in the provider's console. Without a token, receipts are off.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from sqlalchemy import update

from case_core.domain.errors import NotFound
from mobile_api.deps import NowDep, SessionDep
from notifiers import service
from notifiers.dispatcher import DELIVERED, FAILED, SENT, deliveries

router = APIRouter(prefix="/notify/receipts", tags=["notifications"])
Service = Annotated[service.NotifyService, Depends(service.get)]


def _check(token: str, svc: service.NotifyService) -> None:
    expected = svc.settings.receipt_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise NotFound("地址")


async def _apply(session: Any, reports: list[tuple[str, bool, str]], now: Any) -> int:
    changed = 0
    for message_id, ok, error in reports:
        result = await session.execute(
            update(deliveries)
            .where(deliveries.c.provider_message_id == message_id, deliveries.c.status == SENT)
            .values(status=DELIVERED if ok else FAILED, error=None if ok else f"receipt: {error}", updated_at=now)
        )
        changed += result.rowcount or 0
    return changed


@router.post("/aliyun/{token}")
async def aliyun(
    token: str, session: SessionDep, svc: Service, now: NowDep, body: list[dict[str, Any]] = Body(...)
) -> dict:
    """Aliyun SmsReport: [{"biz_id", "success", "err_code", "out_id", …}]. Aliyun expects {"code": 0}."""
    _check(token, svc)
    reports = [(str(r.get("biz_id")), bool(r.get("success")), str(r.get("err_code") or "")) for r in body]
    await _apply(session, reports, now)
    return {"code": 0, "msg": "成功"}


@router.post("/tencent/{token}")
async def tencent(
    token: str, session: SessionDep, svc: Service, now: NowDep, body: list[dict[str, Any]] = Body(...)
) -> dict:
    """Tencent: [{"sid", "report_status": "SUCCESS"|"FAIL", "errmsg", …}]. Tencent expects {"result": 0}."""
    _check(token, svc)
    reports = [(str(r.get("sid")), r.get("report_status") == "SUCCESS", str(r.get("errmsg") or "")) for r in body]
    await _apply(session, reports, now)
    return {"result": 0, "errmsg": "OK"}
