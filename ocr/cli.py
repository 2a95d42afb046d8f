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
    work = osub.add_parser("worker", help="run material checks queued in Redis (needs WEIJIAN_REDIS_URL)")
    work.add_argument("--burst", action="store_true", help="stop when the queue is empty")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ocr import inputs, registry
    from ocr.pool import EngineConfig, make_inspector

    config = EngineConfig(settings.ocr_engine, settings.ocr_threads, settings.ocr_paddle_model_dir)
    if args.ocr_command == "worker":
        if not settings.redis_url:
            _print(
                {
                    "error": {
                        "code": "no_redis",
                        "message": "WEIJIAN_REDIS_URL 未设置：未配置 Redis 时材料识别在 API 进程内运行",
                    }
                }
            )
            return 2
        from ocr.jobs import run_worker

        run_worker(settings.redis_url, config, burst=args.burst)
        return 0

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
    if not args.text:
        out.pop("meta", None)  # the shape: {material_type, confidence, fields, findings, timings_ms}
    _print(out)
    return 0


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
