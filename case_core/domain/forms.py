"""Form definitions (6.7.3) and the validation of what applicants type into them.

A draft may be saved with empty required fields, but never with a value that is wrong: a wrong value is
refused with the field named, and the draft keeps what was saved before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from stdnum import luhn
from stdnum.cn import ric, uscc

RESIDENT_ID = "居民身份证"
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_OTHER_ID = re.compile(r"^[A-Za-z0-9()（）-]{5,30}$")
_NUMBER = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")
MAX_TEXT = 2000


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    type: str  # string / date / select / phone / id_number / number / text
    required: bool = False
    options: tuple[str, ...] = ()
    validator: str | None = None  # email / GB 32100 / Luhn
    multiple: bool = False  # select: a list of options

    @property
    def sensitive(self) -> bool:
        """Personal data: encrypted at rest, masked in responses."""
        return self.type in ("id_number", "phone") or self.key.endswith("address") or self.validator == "Luhn"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FieldDef:
        return cls(
            key=d["key"],
            label=d.get("label", d["key"]),
            type=d.get("type", "string"),
            required=bool(d.get("required", False)),
            options=tuple(d.get("options") or ()),
            validator=d.get("validator"),
            multiple=bool(d.get("multiple", False)),
        )


def _check_value(f: FieldDef, value: Any, form: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Return (normalised value, error message or None)."""
    if f.type == "number":
        # Plain decimals only: float() would also take "nan", "inf", "1e400" and "1_000".
        text = str(value).strip() if isinstance(value, int | float | str) and not isinstance(value, bool) else ""
        if not _NUMBER.match(text):
            return value, f"{f.label}应为数字"
        num = float(text)
        return (int(num) if num.is_integer() else num), None
    if f.type == "select" and f.multiple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return value, f"{f.label}须从给定选项中选择"
        chosen = list(dict.fromkeys(v.strip() for v in value))
        return chosen, None if chosen and all(v in f.options for v in chosen) else f"{f.label}须从给定选项中选择"
    if not isinstance(value, str):
        return value, f"{f.label}格式不正确"
    text = value.strip()
    if len(text) > MAX_TEXT:
        return text, f"{f.label}不能超过{MAX_TEXT}个字"
    if f.type == "date":
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return text, f"{f.label}应为有效日期（如 2024-05-01）"
    if f.type == "select":
        return text, None if text in f.options else f"{f.label}须从给定选项中选择"
    if f.type == "phone":
        compact = text.replace(" ", "")
        ok = _PHONE.match(compact) or _LANDLINE.match(compact)
        return compact, None if ok else f"{f.label}不是有效的电话号码，请填写11位手机号码"
    if f.type == "id_number":
        compact = text.replace(" ", "").upper()
        id_type = form.get("id_type")
        if id_type in (None, "", RESIDENT_ID):
            if not ric.is_valid(compact):
                return compact, f"{f.label}不是有效的居民身份证号码，请核对后重新填写"
        elif not _OTHER_ID.match(compact):
            return compact, f"{f.label}格式不正确"
        return compact, None
    if f.validator == "email" and not _EMAIL.match(text):
        return text, f"{f.label}不是有效的电子邮箱地址"
    if f.validator == "GB 32100":
        compact = uscc.compact(text)
        return compact, None if uscc.is_valid(compact) else f"{f.label}不是有效的统一社会信用代码，请核对后重新填写"
    if f.validator == "Luhn":
        compact = text.replace(" ", "")
        if not compact.isdigit() or not luhn.is_valid(compact):
            return compact, f"{f.label}不是有效的银行卡号，请核对后重新填写"
        return compact, None
    return text, None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def clean_form(fields: Sequence[FieldDef], data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate values that are present; return (cleaned values, errors by key). Unknown keys are errors."""
    by_key = {f.key: f for f in fields}
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in data.items():
        f = by_key.get(key)
        if f is None:
            errors[key] = f"表单中没有“{key}”这一项"
            continue
        if _empty(value):
            continue
        cleaned[key], err = _check_value(f, value, data)
        if err:
            errors[key] = err
    return cleaned, errors


def missing_required(fields: Sequence[FieldDef], data: Mapping[str, Any]) -> dict[str, str]:
    return {f.key: f"请填写{f.label}" for f in fields if f.required and _empty(data.get(f.key))}
