"""``weijian ocr inspect FILE [--expect TYPE] [--form JSON] [--today YYYY-MM-DD]``: one JSON object out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from case_core.domain.errors import CaseError
from case_core.settings import Settings
from case_core.timeutil import local_date, utcnow
from case_core.uploads import UploadLimits


def add_parser(sub: Any) -> None:
    ocr = sub.add_parser("ocr", help="material OCR: read, recognise and check a material image")
    osub = ocr.add_subparsers(dest="ocr_command", required=True)
    ins = osub.add_parser("inspect", help="inspect one image or PDF and print the verdict as JSON")
    ins.add_argument("file", type=Path)
    ins.add_argument("--expect", help="the material type the applicant says it is (registry id)")
    ins.add_argument("--form", help='what the applicant typed, as JSON: {"name": "…", "id_number": "…"}')
    ins.add_argument("--today", help="judge validity as of this date (YYYY-MM-DD); default: today")
    ins.add_argument("--text", action="store_true", help="also print the lines read (contains personal data)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ocr import inputs, registry
    from ocr.pool import EngineConfig, make_inspector

    try:
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            _print({"error": {"code": "file_unreadable", "message": f"无法读取文件：{exc.strerror}"}})
            return 2
        limits = UploadLimits(settings.upload_max_bytes, settings.upload_max_pixels, settings.upload_max_pdf_pages)
        inputs.check_input(data, limits)
        expect = inputs.check_expect(args.expect, set(registry.load().materials))
        form = inputs.parse_form(args.form)
        today = inputs.parse_today(args.today, local_date(utcnow()))
    except CaseError as exc:
        _print({"error": {"code": exc.code, "message": exc.message, "details": exc.details}})
        return 2
    inspector = make_inspector(EngineConfig(settings.ocr_engine, settings.ocr_threads, settings.ocr_paddle_model_dir))
    result = inspector.inspect(data, expect=expect, form=form, today=today)
    out = result.as_dict(with_text=args.text)
    out.pop("meta", None) if not args.text else None
    _print(out)
    return 0


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
