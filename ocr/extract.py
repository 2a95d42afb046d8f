"""Field values per material type: keys exactly as in the registry, dates as ISO ``YYYY-MM-DD``."""

from __future__ import annotations

import re
from datetime import date

from ocr.engine import TextLine
from ocr.layout import find_labels, norm, value_for
from ocr.registry import MaterialSpec

_DATE = re.compile(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*[月.\-/]\s*(\d{1,2})")
_OPEN_ENDED = "长期"


def parse_dates(text: str) -> list[str]:
    out = []
    for y, m, d in _DATE.findall(text.replace("O", "0").replace("o", "0")):
        try:
            out.append(date(int(y), int(m), int(d)).isoformat())
        except ValueError:
            continue
    return out


def clean_code(text: str) -> str:
    """An ID number, credit code or certificate number: upper-case letters and digits only."""
    return re.sub(r"[^0-9A-Z]", "", norm(text).upper())


def _clean_name(text: str) -> str:
    return re.sub(r"[^\u4e00-\u9fa5·]", "", text)


_EDGE = "|丨｜[]【】 "  # table rules read as characters at a value's edges


def normalise(kind: str, raw: str) -> str | None:
    raw = raw.strip().strip(_EDGE)
    if not raw:
        return None
    if kind == "date":
        if _OPEN_ENDED in raw:
            return _OPEN_ENDED
        dates = parse_dates(raw)
        return dates[-1] if dates else None
    if kind in {"id_number", "uscc"}:
        return clean_code(raw) or None
    if kind == "sex":
        m = re.search(r"[男女]", raw)
        return m.group(0) if m else None
    if kind == "name":
        return _clean_name(raw) or None
    text = norm(raw).replace(":", "：").replace("(", "（").replace(")", "）")
    # 〔〕 in licence numbers (粤卫公证字〔2024〕第…号) are often read as [] or ().
    text = re.sub(r"字[\[（【〔]", "字〔", text)
    return re.sub(r"[\]）】〕]第", "〕第", text) or None


def _period(raw: str) -> tuple[str | None, str | None]:
    dates = parse_dates(raw)
    start = dates[0] if dates else None
    end = _OPEN_ENDED if _OPEN_ENDED in raw else (dates[1] if len(dates) > 1 else None)
    return start, end


def extract(spec: MaterialSpec, lines: list[TextLine]) -> dict[str, str]:
    hits, label_ids, lines = find_labels(lines, spec.labels)
    raw: dict[str, str] = {}
    for hit in hits:
        if hit.key in raw:
            continue
        text = hit.inline
        if not text:
            v = value_for(hit, lines, label_ids)
            text = v.text if v is not None else ""
        if text:
            raw[hit.key] = text
    out: dict[str, str] = {}
    # One printed "有效期限 2015.03.01-2035.03.01" carries both ends of a period.
    for a, b in (("valid_from", "valid_to"), ("establishment_date", "business_term_to")):
        fa, fb = spec.field(a), spec.field(b)
        if fa and fb and raw.get(a) and raw.get(a) == raw.get(b):
            start, end = _period(raw.pop(a))
            raw.pop(b)
            if start:
                out[a] = start
            if end:
                out[b] = end
    for key, text in raw.items():
        f = spec.field(key)
        if f is None:
            continue
        value = normalise(f.kind, text)
        if value:
            out[key] = value
    return out
