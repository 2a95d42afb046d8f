"""``POST /api/v1/ocr/inspect``: read and check one material image without keeping it (a pre-check)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from case_core.domain.errors import CaseError, TooManyRequests, Unauthenticated
from case_core.timeutil import local_date
from case_core.uploads import too_large
from mobile_api.deps import NowDep, StateDep, bearer
from ocr import inputs, registry
from ocr.pool import OcrTimeout

router = APIRouter(tags=["ocr"])


class OcrBusy(CaseError):
    code = "ocr_timeout"
    status = 503


@router.post("/ocr/inspect")
async def inspect(
    request: Request,
    state: StateDep,
    now: NowDep,
    file: Annotated[UploadFile, File()],
    expect: Annotated[str | None, Form()] = None,
    form: Annotated[str | None, Form()] = None,
    today: Annotated[str | None, Form()] = None,
) -> dict:
    claims = state.tokens.decode(bearer(request))
    if claims.get("typ") not in {"applicant", "staff"}:
        raise Unauthenticated()
    # OCR costs about a second of CPU: bound it per account.
    if not await state.limiter.hit(f"ocr:{claims['typ']}:{claims['sub']}", 30, 60):
        raise TooManyRequests("识别请求过于频繁，请稍后再试")
    limits = state.ctx.limits
    data = await file.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise too_large(limits)
    await asyncio.to_thread(inputs.check_input, data, limits)
    wanted = inputs.check_expect(expect, set(registry.load().materials))
    typed = inputs.parse_form(form)
    day = inputs.parse_today(today, local_date(now))
    try:
        result = await state.ocr_pool().inspect(data, expect=wanted, form=typed, today=day)
    except OcrTimeout as exc:
        raise OcrBusy("材料识别超时，请稍后重试或更换清晰的图片") from exc
    result.pop("text", None)
    result.pop("meta", None)
    return result
