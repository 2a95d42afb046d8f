"""`weijian ocr inspect FILE [--expect] [--form] [--today]`: one JSON object on stdout."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mobile_api.cli import main
from ocr.samples import TEST_FONTS, available_fonts, make_sample


def test_inspect_prints_the_verdict_and_judges_expiry_by_today(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = make_sample("health_check_report", random.Random(12), fonts=available_fonts(TEST_FONTS), rotate=0)
    path = tmp_path / "report.jpg"
    path.write_bytes(s.image)
    form = json.dumps({"name": s.fields["name"]}, ensure_ascii=False)
    assert (
        main(["ocr", "inspect", str(path), "--expect", "health_check_report", "--form", form, "--today", "2026-11-27"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"material_type", "confidence", "fields", "findings", "timings_ms"}
    assert out["material_type"] == "health_check_report" and out["findings"] == []
    assert out["fields"]["check_date"] == s.fields["check_date"]
    # A year later the same report has expired.
    assert main(["ocr", "inspect", str(path), "--today", "2027-11-27"]) == 0
    later = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in later["findings"]] == ["expired"]


def test_bad_arguments_give_an_error_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ocr", "inspect", str(tmp_path / "missing.jpg")]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "file_unreadable"
    (tmp_path / "a.txt").write_text("not an image")
    assert main(["ocr", "inspect", str(tmp_path / "a.txt")]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unsupported_media_type"
