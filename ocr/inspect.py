"""One material image in, one verdict out: ``{material_type, confidence, fields, findings, timings_ms}``.

CPU-bound and synchronous: call it in a worker process (ocr.pool), never on the event loop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ocr import checks
from ocr.checks import Finding
from ocr.classify import classify
from ocr.engine import Engine, TextLine
from ocr.extract import extract
from ocr.layout import is_vertical_page, split_stacked, upright
from ocr.preprocess import LOW_RES_LONG_SIDE, Page, Unreadable, load, rotate
from ocr.registry import MaterialSpec, Registry

# What must be legible for a material to count as complete (a photo cut off at the bottom misses some).
REQUIRED: dict[str, tuple[str, ...]] = {
    "resident_id_card/front": ("name", "id_number"),
    "resident_id_card/back": ("issuing_authority", "valid_to"),
    "business_licence": ("uscc", "entity_name", "legal_representative", "establishment_date", "business_term_to"),
    "physician_practice_cert": ("name", "id_number", "cert_code", "issue_date"),
    "physician_qualification_cert": ("name", "id_number", "cert_code", "issue_date"),
    "nurse_practice_cert": ("name", "id_number", "cert_no", "valid_to"),
    "health_check_report": ("name", "id_number", "check_date", "conclusion"),
    "diploma": ("name", "school", "cert_no"),
    "medical_institution_licence": ("institution_name", "registration_no", "valid_to"),
    "public_place_hygiene_licence": ("licence_no", "unit_name", "valid_to"),
}
FIELD_NAMES = {"id_number": "身份证号码", "uscc": "统一社会信用代码"}
BLUR_SHARPNESS = 60.0  # variance of the Laplacian at 1000 px; sharp phone photos of print are in the hundreds
MIN_TEXT_CHARS = 4


@dataclass
class Result:
    material_type: str | None
    confidence: float
    fields: dict[str, str]
    findings: list[Finding]
    timings_ms: dict[str, float]
    text: list[str] = field(default_factory=list)  # the lines read, in reading order (personal data!)
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, *, with_text: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "material_type": self.material_type,
            "confidence": self.confidence,
            "fields": self.fields,
            "findings": [f.as_dict() for f in self.findings],
            "timings_ms": self.timings_ms,
            "meta": self.meta,
        }
        if with_text:
            out["text"] = self.text
        return out


def _side(spec: MaterialSpec, fields: dict[str, str], lines: list[TextLine]) -> str:
    if spec.id != "resident_id_card":
        return spec.id
    joined = "".join(ln.text for ln in lines)
    back = "签发机关" in joined or "有效期限" in joined
    front = any(k in fields for k in ("name", "id_number", "birth_date")) or "公民身份号码" in joined
    return "resident_id_card/back" if back and not front else "resident_id_card/front"


class Inspector:
    def __init__(self, engine: Engine, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry

    def read(self, page: Page) -> tuple[list[TextLine], dict[str, Any]]:
        """OCR with the page turned upright: a page on its side is turned and read again; an upside-down page
        shows in the direction classifier and is turned by geometry alone."""
        img = page.image
        res = self.engine.read(img)
        turned = 0
        if is_vertical_page(res.lines):
            img = rotate(img, 90)
            turned = 90
            res = self.engine.read(img)
        flipped = res.flipped > 0.5
        h, w = img.shape[:2]
        lines, skew = upright(res.lines, w, h, flipped=flipped)
        lines = split_stacked(lines)
        lines.sort(key=lambda ln: (round(ln.cy / max(ln.h, 1)), ln.x0))
        # How the photo was turned (counter-clockwise), i.e. the turn that was undone.
        rotation = (360 - turned - (180 if flipped else 0)) % 360
        return lines, {"rotation": rotation, "skew_deg": round(skew, 2), "exif_rotated": page.exif_rotated}

    def inspect(
        self, data: bytes, *, expect: str | None = None, form: dict[str, Any] | None = None, today: date
    ) -> Result:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        findings: list[Finding] = []

        def done(mtype: str | None, conf: float, fields: dict[str, str], text: list[str], meta: dict) -> Result:
            timings["total"] = round((time.perf_counter() - t0) * 1000, 1)
            return Result(mtype, conf, fields, findings, timings, text, meta)

        try:
            page = load(data)
        except Unreadable:
            findings.append(Finding("unreadable", "error", None, "图片已损坏或不完整，无法识别，请重新拍照或重新上传"))
            return done(None, 0.0, {}, [], {})
        timings["decode"] = round((time.perf_counter() - t0) * 1000, 1)
        meta: dict[str, Any] = {"width": page.width, "height": page.height, "sharpness": round(page.sharpness, 1)}
        if page.pages > 1:
            meta["pages"] = page.pages
        low_res = max(page.width, page.height) < LOW_RES_LONG_SIDE
        if low_res:
            findings.append(
                Finding(
                    "low_resolution",
                    "error" if min(page.width, page.height) < 64 else "warning",
                    None,
                    f"图片分辨率过低（{page.width}×{page.height}），请用原图或重新拍摄清晰的照片上传",
                )
            )
        blurry = page.sharpness < BLUR_SHARPNESS and page.contrast > 8 and not low_res
        if blurry:
            findings.append(Finding("blurry", "warning", None, "照片模糊，请在光线充足处对焦、保持手机稳定后重新拍摄"))
        if min(page.width, page.height) < 16:
            findings.append(Finding("unreadable", "error", None, "图片太小，无法识别内容，请重新拍摄上传"))
            return done(None, 0.0, {}, [], meta)

        t1 = time.perf_counter()
        lines, orient = self.read(page)
        timings["ocr"] = round((time.perf_counter() - t1) * 1000, 1)
        meta |= orient
        text = [ln.text for ln in lines]
        if sum(len(t.strip()) for t in text) < MIN_TEXT_CHARS:
            findings.append(
                Finding("unreadable", "error", None, "未能从图片中识别出文字，请拍摄清晰、完整、无遮挡的材料后重新上传")
            )
            # Nothing legible: a blurred photo is then the reason, not a detail.
            findings[:] = [Finding(f.code, "error", f.field, f.message) if f.code == "blurry" else f for f in findings]
            return done(None, 0.0, {}, text, meta)

        verdict = classify(lines, self.registry)
        mtype = verdict.material_type
        spec = self.registry.get(mtype) if mtype else None
        if expect and mtype != expect:
            expected = self.registry.get(expect)
            want = expected.name if expected else expect
            got = f"“{spec.name}”" if spec else "无法识别的材料"
            findings.append(
                Finding(
                    "wrong_material",
                    "error",
                    None,
                    f"这份材料看起来是{got}，不是所需的“{want}”，请上传正确的材料",
                    suggestion=mtype,
                )
            )
        fields: dict[str, str] = {}
        if spec is not None:
            fields = extract(spec, lines)
            for key in ("id_number", "uscc"):
                f = spec.field(key)
                if f is not None and fields.get(key):
                    checks.check_number(f.kind, key, fields[key], fields, findings)
            if fields.get("id_number") and spec.field("id_number") is None:
                fields.pop("id_number")
            checks.check_validity(spec, fields, today, findings)
            checks.cross_check_id(fields, findings)
            checks.cross_check_form(fields, form or {}, findings)
            side = _side(spec, fields, lines)
            meta["side"] = side.split("/")[1] if "/" in side else None
            missing = [k for k in REQUIRED.get(side, ()) if not fields.get(k)]
            if missing:
                labels = "、".join(spec.field(k).label if spec.field(k) else k for k in missing)  # type: ignore[union-attr]
                findings.append(
                    Finding(
                        "incomplete",
                        "error",
                        missing[0],
                        f"未能识别出{labels}，材料可能拍摄不完整或被遮挡，请拍摄完整的材料后重新上传",
                    )
                )
        elif not expect:
            findings.append(
                Finding("wrong_material", "warning", None, "未能识别这份材料的类型，请确认上传的是所需的证件或证明")
            )
        timings["total"] = round((time.perf_counter() - t0) * 1000, 1)
        return Result(mtype, verdict.confidence, fields, findings, timings, text, meta)
