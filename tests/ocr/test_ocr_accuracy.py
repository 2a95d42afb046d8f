"""The reader on images the tests render themselves (ocr.samples: PIL + Noto CJK, marked 样本): material type,
field values, planted defects and false alarms, asserted on a generated set with the real RapidOCR engine.

The goals in the issue are for the bench's held-out set (other fonts and layouts); this smaller set keeps CI
fast and holds the same bars, with a little slack for a set this small."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ocr.evaluate import Score
from ocr.inspect import Inspector
from ocr.samples import TEST_FONTS, Sample, available_fonts, make_sample, make_set

# Under pytest -n (scripts/test) the module's tests stay on one worker, which builds the module fixture once.
pytestmark = pytest.mark.xdist_group("ocr-accuracy")


@pytest.fixture(scope="module")
def scored(inspector: Inspector) -> tuple[Score, list[tuple[Sample, dict[str, Any]]]]:
    samples = make_set(11, clean_per_kind=1, one_per_defect=True)
    score = Score()
    results = []
    for s in samples:
        r = inspector.inspect(s.image, expect=s.expect_type, form=s.form, today=s.today).as_dict()
        score.add(s, r)
        results.append((s, r))
    return score, results


def test_the_set_covers_every_listed_type_and_defect(scored: tuple[Score, list]) -> None:
    _, results = scored
    kinds = {s.meta["kind"] for s, _ in results}
    assert {"resident_id_card/front", "resident_id_card/back", "business_licence", "physician_practice_cert"} <= kinds
    assert {"nurse_practice_cert", "physician_qualification_cert", "health_check_report", "diploma"} <= kinds
    assert {"medical_institution_licence", "public_place_hygiene_licence"} <= kinds
    planted = set().union(*(s.defects for s, _ in results))
    assert planted >= {"id_checksum_invalid", "uscc_checksum_invalid", "expired", "name_mismatch", "id_mismatch"}
    assert planted >= {"blurry", "low_resolution", "incomplete", "wrong_material", "unreadable"}


def test_material_type_is_recognised(scored: tuple[Score, list]) -> None:
    score, _ = scored
    assert score.type_accuracy >= 0.95, score.misses


def test_field_values_are_read_exactly(scored: tuple[Score, list]) -> None:
    score, _ = scored
    assert score.field_accuracy >= 0.93, score.misses


def test_planted_defects_are_found(scored: tuple[Score, list]) -> None:
    score, _ = scored
    assert score.defect_recall >= 0.9, score.misses


def test_clean_images_raise_no_findings(scored: tuple[Score, list]) -> None:
    score, _ = scored
    assert score.clean_flagged <= 1, score.misses


def test_every_finding_is_well_formed(scored: tuple[Score, list]) -> None:
    _, results = scored
    for _, r in results:
        assert set(r) >= {"material_type", "confidence", "fields", "findings", "timings_ms"}
        for f in r["findings"]:
            assert f["severity"] in {"error", "warning"}
            assert f["message"] and any("\u4e00" <= c <= "\u9fff" for c in f["message"])
        for key, value in r["fields"].items():
            if key.endswith("_date") or key in {"valid_from"}:
                assert len(value) == 10 and value[4] == "-", (key, value)


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_turned_photo_reads_like_an_upright_one(inspector: Inspector, rotate: int) -> None:
    rng = random.Random(100 + rotate)
    s = make_sample("nurse_practice_cert", rng, fonts=available_fonts(TEST_FONTS), rotate=rotate)
    r = inspector.inspect(s.image, expect=s.expect_type, form=s.form, today=s.today)
    assert r.meta["rotation"] == rotate
    assert r.material_type == "nurse_practice_cert"
    assert r.fields.get("id_number") == s.fields["id_number"]
    assert r.fields.get("valid_to") == s.fields["valid_to"]
    assert r.findings == []
