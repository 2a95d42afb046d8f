"""Findings that need no OCR: numbers, corrections, validity, cross-checks (python-stdnum does the maths)."""

from __future__ import annotations

import random
from datetime import date

from stdnum.cn import ric, uscc

from ocr.checks import (
    Finding,
    allowed_uscc,
    check_number,
    check_validity,
    confusion_candidates,
    cross_check_form,
    cross_check_id,
    id_valid,
)
from ocr.registry import load

ID = "11010519491231002X"  # GB 11643's own example number


def _codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_the_example_is_valid_by_stdnum() -> None:
    assert ric.is_valid(ID) and id_valid(ID)
    assert not id_valid(ID[:-1] + "1") and not id_valid("11010519491331002X")  # check digit; 13th month


def test_a_broken_check_digit_is_an_error_not_a_correction() -> None:
    fields = {"id_number": ID[:-1] + "5"}
    findings: list[Finding] = []
    check_number("id_number", "id_number", fields["id_number"], fields, findings)
    assert _codes(findings) == ["id_checksum_invalid"]
    assert findings[0].severity == "error" and "重新拍摄" in findings[0].message
    assert fields["id_number"] == ID[:-1] + "5"  # never silently changed


def test_a_letter_read_for_a_digit_is_corrected_and_reported() -> None:
    misread = ID.replace("0", "O", 1)  # 11O10519491231002X
    fields = {"id_number": misread}
    findings: list[Finding] = []
    check_number("id_number", "id_number", misread, fields, findings)
    assert fields["id_number"] == ID
    assert _codes(findings) == ["ocr_corrected"]
    assert findings[0].suggestion == ID and findings[0].severity == "warning"
    assert ID not in findings[0].message  # the message shows the number masked


def _uscc(body: str) -> str:
    return body + uscc.calc_check_digit(body)


def test_a_credit_code_is_corrected_only_when_exactly_one_spelling_passes() -> None:
    """8 and B are both legal in a credit code: a misread is fixed only if one spelling has a right check digit."""
    rng = random.Random(7)
    fixed = ambiguous = 0
    for _ in range(400):
        body = "91" + "440106" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
        good = _uscc(body)
        if "B" not in good[8:17]:
            continue
        misread = good[:8] + good[8:17].replace("B", "8") + good[17]
        if misread == good or uscc.is_valid(misread):
            continue
        fields = {"uscc": misread}
        findings: list[Finding] = []
        check_number("uscc", "uscc", misread, fields, findings)
        passing = confusion_candidates(misread, allowed_uscc, uscc.is_valid)
        if len(passing) == 1:
            assert _codes(findings) == ["ocr_corrected"] and fields["uscc"] == good
            fixed += 1
        else:
            assert _codes(findings) == ["uscc_checksum_invalid"] and fields["uscc"] == misread
            ambiguous += 1
    assert fixed and ambiguous  # both paths were exercised


def test_a_valid_credit_code_passes_and_a_broken_one_does_not() -> None:
    good = _uscc("91440106MA5CXYR12")
    findings: list[Finding] = []
    check_number("uscc", "uscc", good, {"uscc": good}, findings)
    assert findings == []
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    check_number("uscc", "uscc", bad, {"uscc": bad}, findings)
    assert _codes(findings) == ["uscc_checksum_invalid"]


def test_wrong_length_is_reported_with_the_count() -> None:
    findings: list[Finding] = []
    check_number("id_number", "id_number", "1101051949123100", {}, findings)
    assert _codes(findings) == ["id_checksum_invalid"] and "16位" in findings[0].message


def test_expiry_follows_the_registry_rules_and_today() -> None:
    reg = load()
    health = reg.get("health_check_report")
    assert health is not None
    findings: list[Finding] = []
    check_validity(health, {"check_date": "2026-05-27"}, date(2026, 11, 27), findings)
    assert findings == []  # six months to the day: still valid
    check_validity(health, {"check_date": "2026-05-26"}, date(2026, 11, 27), findings)
    assert _codes(findings) == ["expired"]
    idcard = reg.get("resident_id_card")
    assert idcard is not None
    later: list[Finding] = []
    check_validity(idcard, {"valid_from": "2006-01-01", "valid_to": "长期"}, date(2026, 11, 27), later)
    check_validity(idcard, {"valid_to": "2026-11-27"}, date(2026, 11, 27), later)
    assert later == []
    check_validity(idcard, {"valid_to": "2026-11-26"}, date(2026, 11, 27), later)
    assert _codes(later) == ["expired"] and "2026-11-26" in later[0].message


def test_birth_date_and_sex_are_checked_against_the_id_number() -> None:
    findings: list[Finding] = []
    cross_check_id({"id_number": ID, "birth_date": "1949-12-31", "sex": "女"}, findings)
    assert findings == []  # 17th digit 2: even, a woman
    cross_check_id({"id_number": ID, "birth_date": "1950-12-31", "sex": "男"}, findings)
    assert sorted(_codes(findings)) == ["birth_date_mismatch", "sex_mismatch"]


def test_what_was_typed_is_compared_with_what_was_read() -> None:
    findings: list[Finding] = []
    cross_check_form({"name": "张三", "id_number": ID}, {"name": "张三", "id_number": ID.lower()}, findings)
    assert findings == []
    cross_check_form({"name": "张三", "id_number": ID}, {"name": "李四", "id_number": "110105194912310037"}, findings)
    assert _codes(findings) == ["name_mismatch", "id_mismatch"]
    assert findings[0].suggestion == "张三"
    assert ID not in findings[1].message


def test_the_documents_own_dates_bound_its_reuse() -> None:
    from ocr.service import valid_until

    assert valid_until("health_check_report", {"check_date": "2026-05-31"}) == date(2026, 11, 30)
    assert valid_until("resident_id_card", {"valid_from": "2016-01-01", "valid_to": "2036-01-01"}) == date(2036, 1, 1)
    assert valid_until("resident_id_card", {"valid_to": "长期"}) is None
    assert valid_until("nurse_practice_cert", {"valid_to": "2027-03-01"}) == date(2027, 3, 1)
    assert valid_until("diploma", {"graduation_date": "2020-07-01"}) is None
