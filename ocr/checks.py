"""Error correction and findings (自动纠错): what is wrong with a material, in words an applicant can act on.

Number checks use python-stdnum (GB 11643 公民身份号码: ``stdnum.cn.ric``; GB 32100 统一社会信用代码:
``stdnum.cn.uscc``). A number is corrected for a common OCR confusion (O/0, I/1, Z/2, S/5, B/8) only when
exactly one substitution makes its check digit right, and the correction is always reported."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from stdnum.cn import ric, uscc

from ocr.registry import MaterialSpec

CONFUSIONS = {"O": "0", "0": "O", "I": "1", "1": "I", "Z": "2", "2": "Z", "S": "5", "5": "S", "B": "8", "8": "B"}
_USCC_CHARS = set("0123456789ABCDEFGHJKLMNPQRTUWXY")
MAX_CANDIDATES = 512


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # error | warning
    field: str | None
    message: str
    suggestion: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mask_id(value: str) -> str:
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


# ------------------------------------------------------------------ numbers


def id_valid(number: str) -> bool:
    """GB 11643: 17 digits, a valid birth date, and the ISO 7064 MOD 11-2 check character (stdnum.cn.ric).
    Not ``ric.is_valid``: that also requires the region code to have existed in the holder's birth year, which
    rejects real numbers assigned after a district was renamed or created."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        ric.get_birth_date(number)
    except ValueError:
        return False
    return number[-1] == ric.calc_check_digit(number)


def allowed_id(pos: int, ch: str) -> bool:
    return ch.isdigit() or (pos == 17 and ch == "X")


def allowed_uscc(pos: int, ch: str) -> bool:
    return ch.isdigit() if 2 <= pos <= 7 else ch in _USCC_CHARS


def confusion_candidates(value: str, allowed: Any, valid: Any) -> list[str]:
    """Every spelling reachable by the listed confusions that is well-formed and passes ``valid``."""
    options = []
    for pos, ch in enumerate(value):
        opts = [c for c in {ch, CONFUSIONS.get(ch, ch)} if allowed(pos, c)]
        if not opts:
            return []
        options.append(sorted(opts))
    total = 1
    for o in options:
        total *= len(o)
    if total > MAX_CANDIDATES:
        return []
    out = []
    for combo in itertools.product(*options):
        cand = "".join(combo)
        if cand != value and valid(cand):
            out.append(cand)
    return out


def check_number(kind: str, field: str, value: str, fields: dict[str, str], findings: list[Finding]) -> None:
    """Validate (and, with exactly one candidate, correct) an ID number or credit code in ``fields``."""
    if kind == "id_number":
        validator, allowed, code, what = id_valid, allowed_id, "id_checksum_invalid", "身份证号码"
    else:
        validator, allowed, code, what = uscc.is_valid, allowed_uscc, "uscc_checksum_invalid", "统一社会信用代码"
    if len(value) == 18 and validator(value):
        return
    candidates = confusion_candidates(value, allowed, validator) if len(value) == 18 else []
    if len(candidates) == 1:
        fixed = candidates[0]
        fields[field] = fixed
        findings.append(
            Finding(
                "ocr_corrected",
                "warning",
                field,
                f"识别出的{what}有易混字符（如O/0、I/1、Z/2、S/5、B/8），已按校验码更正为 {_show(kind, fixed)}，请核对",
                suggestion=fixed,
            )
        )
        return
    if len(value) != 18:
        msg = f"证件上的{what}应为18位，识别到{len(value)}位，请拍摄清晰完整的证件后重新上传"
    else:
        msg = f"证件上的{what}校验不通过（号码有误或拍摄不清），请核对证件或重新拍摄上传"
    findings.append(Finding(code, "error", field, msg))


def _show(kind: str, value: str) -> str:
    return mask_id(value) if kind == "id_number" else value


# ------------------------------------------------------------------ dates


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(d.year + y, m + 1, day)
        except ValueError:
            continue
    raise ValueError(d)


def _iso(v: str | None) -> date | None:
    try:
        return date.fromisoformat(v) if v else None
    except ValueError:
        return None


def check_validity(spec: MaterialSpec, fields: dict[str, str], today: date, findings: list[Finding]) -> None:
    rule = spec.validity.get("rule")
    desc = spec.validity.get("description", "")
    expired_on: date | None = None
    field: str | None = None
    if rule == "date_range":
        field = spec.validity.get("to_field")
        if field and fields.get(field) != spec.validity.get("open_ended_value", "长期"):
            expired_on = _iso(fields.get(field))
    elif rule == "expiry_field":
        field = spec.validity.get("field")
        if field and fields.get(field) != "长期":
            expired_on = _iso(fields.get(field))
    elif rule == "months_from_field":
        field = spec.validity.get("field")
        start = _iso(fields.get(field or ""))
        if start is not None:
            expired_on = add_months(start, int(spec.validity.get("months", 0)))
    if expired_on is not None and expired_on < today:
        findings.append(
            Finding(
                "expired",
                "error",
                field,
                f"“{spec.title}”已于{expired_on.isoformat()}过期（{desc.rstrip('。')}），请上传有效期内的材料",
            )
        )


# ------------------------------------------------------------------ cross-checks

NAME_KEYS = ("name", "legal_representative", "entity_name", "unit_name", "institution_name")
ID_KEYS = ("id_number", "uscc")


def cross_check_id(fields: dict[str, str], findings: list[Finding]) -> None:
    """Birth date and sex printed on the document against the (valid) ID number."""
    number = fields.get("id_number", "")
    if not id_valid(number):
        return
    born = ric.get_birth_date(number).isoformat()
    if fields.get("birth_date") and fields["birth_date"] != born:
        findings.append(
            Finding(
                "birth_date_mismatch",
                "error",
                "birth_date",
                f"证件上的出生日期{fields['birth_date']}与身份证号码中的出生日期{born}不一致，请核对证件",
            )
        )
    sex = "男" if int(number[16]) % 2 else "女"
    if fields.get("sex") and fields["sex"] != sex:
        findings.append(
            Finding("sex_mismatch", "error", "sex", f"证件上的性别“{fields['sex']}”与身份证号码不一致，请核对证件")
        )


def cross_check_form(fields: dict[str, str], form: dict[str, Any], findings: list[Finding]) -> None:
    """What the material says against what the applicant typed (the form and the profile)."""
    for key in NAME_KEYS:
        typed = str(form.get(key) or "").strip()
        read = fields.get(key)
        if typed and read and typed != read:
            what = "姓名" if key in {"name", "legal_representative"} else "名称"
            findings.append(
                Finding(
                    "name_mismatch",
                    "error",
                    key,
                    f"材料上的{what}“{read}”与填写的“{typed}”不一致，请核对后修改填写内容或更换材料",
                    suggestion=read,
                )
            )
    for key in ID_KEYS:
        typed = str(form.get(key) or "").strip().upper()
        if typed and fields.get(key) and typed != fields[key]:
            what = "身份证号码" if key == "id_number" else "统一社会信用代码"
            shown = mask_id(fields[key]) if key == "id_number" else fields[key]
            findings.append(
                Finding(
                    "id_mismatch",
                    "error",
                    key,
                    f"材料上的{what}（{shown}）与填写的不一致，请核对后修改填写内容或更换材料",
                )
            )
