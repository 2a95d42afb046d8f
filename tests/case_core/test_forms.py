"""Form validation (clean_form / missing_required), sensitive fields, and the masking of personal data."""

from __future__ import annotations

import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from case_core.domain.forms import MAX_TEXT, FieldDef, clean_form, missing_required
from case_core.domain.masking import mask_account, mask_by_kind, mask_id_number, mask_phone, mask_text


def resident_id(first17: str) -> str:
    """A GB 11643 number: 17 digits (region, birth date, sequence) and the check character computed by stdnum."""
    return first17 + ric.calc_check_digit(first17 + "0")


VALID_ID = resident_id("11010119900307123")  # 北京市东城区, born 1990-03-07
X_ID = resident_id("44010619851203002")  # 广州市天河区; its check character is X
USCC = "91440101MA59ABCD1" + uscc.calc_check_digit("91440101MA59ABCD1")
CARD = "622202123456789012" + luhn.calc_check_digit("622202123456789012")

# The physician-registration form of GD-WJ-XK-0001 (items.yaml), plus fields used by other items.
FIELDS = [
    FieldDef("applicant_name", "姓名", "string", required=True),
    FieldDef("id_type", "证件类型", "select", True, ("居民身份证", "港澳居民来往内地通行证", "台湾居民来往大陆通行证")),
    FieldDef("id_number", "证件号码", "id_number", required=True),
    FieldDef("sex", "性别", "select", required=True, options=("男", "女")),
    FieldDef("birth_date", "出生日期", "date", required=True),
    FieldDef("mobile", "手机号码", "phone", required=True),
    FieldDef("email", "电子邮箱", "string", validator="email"),
    FieldDef("uscc", "统一社会信用代码", "string", validator="GB 32100"),
    FieldDef("bank_account", "银行账号", "string", validator="Luhn"),
    FieldDef("equipment_count", "放射诊疗设备数量（台）", "number"),
    FieldDef("address", "放射诊疗场所地址", "text"),
]


def clean(**data):
    return clean_form(FIELDS, data)


# ---------------------------------------------------------------------------------------------------- ID numbers
def test_generated_ids_are_what_they_claim():
    assert ric.is_valid(VALID_ID) and ric.is_valid(X_ID) and X_ID.endswith("X")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (VALID_ID, VALID_ID),
        (X_ID.lower(), X_ID),  # lower-case x is upper-cased
        (f" {VALID_ID[:6]} {VALID_ID[6:14]} {VALID_ID[14:]} ", VALID_ID),  # spaces dropped
    ],
)
@pytest.mark.parametrize("id_type", [None, "", "居民身份证"])
def test_valid_resident_id_is_accepted_and_normalised(typed, stored, id_type):
    data = {"id_number": typed} if id_type is None else {"id_type": id_type, "id_number": typed}
    cleaned, errors = clean(**data)
    assert errors == {}
    assert cleaned["id_number"] == stored


@pytest.mark.parametrize(
    "bad",
    [
        VALID_ID[:-1] + str((int(VALID_ID[-1]) + 1) % 10),  # wrong check digit
        resident_id("11010119901307123"),  # month 13, right check digit
        resident_id("00000019900307123"),  # no such region
        VALID_ID[:-1],  # 17 characters
        VALID_ID + "1",  # 19 characters
        "A" + VALID_ID[1:],
    ],
)
def test_invalid_resident_id_is_refused_naming_the_field(bad):
    _, errors = clean(id_type="居民身份证", id_number=bad)
    assert errors == {"id_number": "证件号码不是有效的居民身份证号码，请核对后重新填写"}


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("H12345678", True),
        ("h1234567(8)", True),
        (VALID_ID[:-1] + "0", True),  # not checked as GB 11643 under another document type
        ("H123", False),  # too short
        ("H1234567890123456789012345678901", False),  # too long
        ("护照H12345678", False),
    ],
)
def test_non_resident_id_uses_generic_pattern(number, ok):
    _, errors = clean(id_type="港澳居民来往内地通行证", id_number=number)
    assert errors == ({} if ok else {"id_number": "证件号码格式不正确"})


# ---------------------------------------------------------------------------------------------------- other types
@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("19912345678", "19912345678"),
        ("020-12345678", "020-12345678"),
        ("0755 1234567", "07551234567"),
        ("02012345678", "02012345678"),
    ],
)
def test_mobile_and_landline_accepted(typed, stored):
    assert clean(mobile=typed) == ({"mobile": stored}, {})


@pytest.mark.parametrize("typed", ["12800138000", "1380013800", "138001380000", "+8613800138000", "12345", "电话"])
def test_bad_phone_refused(typed):
    assert clean(mobile=typed)[1] == {"mobile": "手机号码不是有效的电话号码，请填写11位手机号码"}


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("zhang.san@example.cn", True),
        ("a@b.cn", True),
        ("ab.cn", False),
        ("a@b", False),
        ("a b@c.cn", False),
        ("a@@c.cn", False),
    ],
)
def test_email_validator(typed, ok):
    assert clean(email=typed)[1] == ({} if ok else {"email": "电子邮箱不是有效的电子邮箱地址"})


def test_valid_uscc_accepted():
    assert clean(uscc=USCC) == ({"uscc": USCC}, {})


@pytest.mark.parametrize("bad", [USCC[:-1] + ("0" if USCC[-1] != "0" else "1"), USCC[:-1], "91440101MA59ABCDI0"])
def test_bad_uscc_refused(bad):
    assert clean(uscc=bad)[1] == {"uscc": "统一社会信用代码不是有效的统一社会信用代码，请核对后重新填写"}


@pytest.mark.parametrize("typed", [CARD, f"{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}"])
def test_luhn_account_accepted_without_spaces(typed):
    assert clean(bank_account=typed) == ({"bank_account": CARD}, {})


@pytest.mark.parametrize("bad", [CARD[:-1] + str((int(CARD[-1]) + 1) % 10), "6222-0212-3456", "6222abc"])
def test_bad_luhn_account_refused(bad):
    assert clean(bank_account=bad)[1] == {"bank_account": "银行账号不是有效的银行卡号，请核对后重新填写"}


@pytest.mark.parametrize(
    ("typed", "error"),
    [("男", None), (" 女 ", None), ("未知", "性别须从给定选项中选择"), ("男性", "性别须从给定选项中选择")],
)
def test_select_value_must_be_an_option(typed, error):
    cleaned, errors = clean(sex=typed)
    assert errors == ({} if error is None else {"sex": error})
    assert cleaned["sex"] == typed.strip()


@pytest.mark.parametrize(
    ("typed", "stored"), [("1990-03-07", "1990-03-07"), (" 1990-03-07 ", "1990-03-07"), ("19900307", "1990-03-07")]
)
def test_date_is_normalised_to_iso(typed, stored):
    assert clean(birth_date=typed) == ({"birth_date": stored}, {})


@pytest.mark.parametrize("bad", ["1990-02-30", "1990/03/07", "1990年3月7日", "yesterday"])
def test_bad_date_refused(bad):
    assert clean(birth_date=bad)[1] == {"birth_date": "出生日期应为有效日期（如 2024-05-01）"}


@pytest.mark.parametrize(("typed", "stored"), [("12", 12), (" 3 ", 3), ("2.5", 2.5), ("4.0", 4), (7, 7), (1.5, 1.5)])
def test_number_is_parsed(typed, stored):
    cleaned, errors = clean(equipment_count=typed)
    assert errors == {} and cleaned["equipment_count"] == stored and type(cleaned["equipment_count"]) is type(stored)


@pytest.mark.parametrize("bad", ["abc", "3台", True, [1]])
def test_bad_number_refused(bad):
    assert clean(equipment_count=bad)[1] == {"equipment_count": "放射诊疗设备数量（台）应为数字"}


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity", "1e400"])
def test_non_finite_number_refused(bad):
    assert clean(equipment_count=bad)[1] == {"equipment_count": "放射诊疗设备数量（台）应为数字"}


@pytest.mark.parametrize(("key", "value"), [("applicant_name", 123), ("sex", ["男"]), ("birth_date", 19900307)])
def test_non_string_for_text_field_refused(key, value):
    label = next(f.label for f in FIELDS if f.key == key)
    assert clean(**{key: value})[1] == {key: f"{label}格式不正确"}


# ---------------------------------------------------------------------------------------------------- form-level
def test_unknown_key_refused_even_when_empty():
    errors = {"hobby": "表单中没有“hobby”这一项", "nickname": "表单中没有“nickname”这一项"}
    assert clean(hobby="钓鱼", nickname="") == ({}, errors)


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_empty_values_are_skipped(empty):
    assert clean(applicant_name=empty, id_number=empty, mobile=empty) == ({}, {})


def test_text_may_be_max_length_but_not_longer():
    assert clean(address="路" * MAX_TEXT + "  ")[1] == {}
    assert clean(address="路" * (MAX_TEXT + 1))[1] == {"address": f"放射诊疗场所地址不能超过{MAX_TEXT}个字"}


def test_every_bad_field_is_reported_and_good_ones_kept():
    cleaned, errors = clean(applicant_name=" 张三 ", sex="x", mobile="123", birth_date="1990-03-07")
    assert set(errors) == {"sex", "mobile"}
    assert cleaned["applicant_name"] == "张三" and cleaned["birth_date"] == "1990-03-07"


def test_missing_required_names_each_empty_required_field():
    data = {"applicant_name": "张三", "id_number": " ", "sex": None, "email": ""}
    assert missing_required(FIELDS, data) == {
        "id_type": "请填写证件类型",
        "id_number": "请填写证件号码",
        "sex": "请填写性别",
        "birth_date": "请填写出生日期",
        "mobile": "请填写手机号码",
    }


def test_from_dict_reads_catalogue_entry_with_defaults():
    f = FieldDef.from_dict({"key": "uscc", "label": "统一社会信用代码", "required": True, "validator": "GB 32100"})
    assert f == FieldDef("uscc", "统一社会信用代码", "string", True, (), "GB 32100")
    assert FieldDef.from_dict({"key": "x", "options": None}) == FieldDef("x", "x", "string")


@pytest.mark.parametrize(
    ("field", "sensitive"),
    [
        (FieldDef("id_number", "证件号码", "id_number"), True),
        (FieldDef("legal_rep_id", "法定代表人证件号码", "id_number"), True),
        (FieldDef("mobile", "手机号码", "phone"), True),
        (FieldDef("contact_phone", "联系电话", "phone"), True),
        (FieldDef("address", "地址", "text"), True),
        (FieldDef("home_address", "家庭住址", "string"), True),
        (FieldDef("bank_account", "银行账号", "string", validator="Luhn"), True),
        (FieldDef("applicant_name", "姓名", "string"), False),
        (FieldDef("email", "电子邮箱", "string", validator="email"), False),
        (FieldDef("uscc", "统一社会信用代码", "string", validator="GB 32100"), False),
        (FieldDef("address_type", "地址类型", "select"), False),
        (FieldDef("birth_date", "出生日期", "date"), False),
    ],
)
def test_sensitive_fields(field, sensitive):
    assert field.sensitive is sensitive


# ---------------------------------------------------------------------------------------------------- masking
@pytest.mark.parametrize(
    ("func", "value", "masked"),
    [
        (mask_id_number, "110101199003071233", "1101**********1233"),
        (mask_id_number, "H12345678", "H123*5678"),
        (mask_id_number, "12345678", "********"),
        (mask_phone, "13800138000", "138****8000"),
        (mask_phone, "020-12345678", "020*****5678"),
        (mask_phone, "123456", "****56"),
        (mask_phone, "1234567", "*****67"),
        (mask_phone, "1234", "****"),
        (mask_account, "12345678", "********"),
        (mask_text, "广东省广州市天河区体育西路1号", "广东省广州市****"),
        (mask_text, "广州市天河区", "广*****"),
        (mask_text, "天河", "天*"),
        (mask_account, CARD, "*" * 15 + CARD[-4:]),
    ],
)
def test_mask(func, value, masked):
    assert func(value) == masked


def test_mask_text_keep_is_configurable():
    assert mask_text("广东省广州市天河区", keep=3) == "广东省****"


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("id_number", VALID_ID, VALID_ID[:4] + "*" * 10 + VALID_ID[-4:]),
        ("phone", "13800138000", "138****8000"),
        ("account", CARD, "*" * 15 + CARD[-4:]),
        ("address", "广东省广州市天河区", "广东省广州市****"),
    ],
)
def test_mask_by_kind_dispatches(kind, value, masked):
    assert mask_by_kind(kind, value) == masked


def test_uscc_is_stored_compact_and_upper_case():
    code = valid_uscc_for_tests()
    cleaned, errors = clean_form(
        [FieldDef("u", "机构代码", "string", validator="GB 32100")], {"u": f" {code[:8].lower()}-{code[8:].lower()} "}
    )
    assert errors == {} and cleaned == {"u": code}


def test_multiple_select_takes_a_list_of_options():
    f = FieldDef("items", "放射诊疗项目", "select", options=("放射治疗", "核医学", "介入放射学"), multiple=True)
    assert clean_form([f], {"items": ["核医学", "放射治疗", "核医学"]}) == ({"items": ["核医学", "放射治疗"]}, {})
    assert clean_form([f], {"items": ["核医学", "牙科"]})[1] == {"items": "放射诊疗项目须从给定选项中选择"}
    assert clean_form([f], {"items": "核医学"})[1] == {"items": "放射诊疗项目须从给定选项中选择"}


def test_multiple_flag_is_read_from_the_catalogue():
    assert FieldDef.from_dict({"key": "k", "type": "select", "options": ["a"], "multiple": True}).multiple


def valid_uscc_for_tests() -> str:
    from stdnum.cn import uscc

    body = "91440101MA59ABCD1"
    return body + uscc.calc_check_digit(body)
