"""One error shape for every failure: {"error": {"code", "message" (Chinese, for the applicant), "details"}}."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from case_core.domain.errors import CaseError

log = logging.getLogger("weijian.api")

HTTP_MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "您没有办理该操作的权限"),
    404: ("not_found", "您访问的内容不存在"),
    405: ("method_not_allowed", "不支持该操作"),
    413: ("payload_too_large", "上传的内容过大"),
    415: ("unsupported_media_type", "不支持的文件类型"),
}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    @app.exception_handler(CaseError)
    async def _case_error(_: Request, exc: CaseError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        fields = {_field_path(tuple(e.get("loc", ()))): e.get("msg", "") for e in exc.errors()}
        return error_response(422, "request_invalid", "提交的内容格式不正确，请检查后重试", {"fields": fields})

    @app.exception_handler(StaleDataError)
    async def _stale(_: Request, exc: StaleDataError) -> Response:
        return error_response(409, "conflict", "该办件已被他人处理，请刷新后重试")

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> Response:
        if "database is locked" in str(exc.orig):
            return error_response(503, "busy", "系统繁忙，请稍后再试")
        log.exception("database error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "系统繁忙，请稍后再试")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code, message = HTTP_MESSAGES.get(exc.status_code, ("http_error", "请求失败"))
        return error_response(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Never echo the exception: it may carry personal data from the request.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "系统繁忙，请稍后再试")
