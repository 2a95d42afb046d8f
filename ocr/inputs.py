"""What the OCR accepts: the upload checks of case_core (type by content, byte, pixel and page caps), except
that a corrupt or truncated image is read as far as possible and reported as an ``unreadable`` finding."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from case_core.domain.errors import FileRejected, ValidationFailed
from case_core.uploads import UploadLimits, check_file


def check_input(data: bytes, limits: UploadLimits) -> None:
    try:
        check_file(data, limits)
    except FileRejected as exc:
        if exc.code != "file_corrupt":
            raise


def parse_form(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        form = json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed('form 须为 JSON 对象，如 {"name": "张三"}') from exc
    if not isinstance(form, dict):
        raise ValidationFailed('form 须为 JSON 对象，如 {"name": "张三"}')
    return {str(k): v for k, v in form.items() if isinstance(v, str | int | float)}


def parse_today(raw: str | None, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed("today 须为 YYYY-MM-DD 格式的日期") from exc


def check_expect(expect: str | None, known: set[str]) -> str | None:
    if expect and expect not in known:
        raise ValidationFailed(f"未知的材料类型“{expect}”", material_type=expect)
    return expect or None
