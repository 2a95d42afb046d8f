"""Synthetic certificate images (样本) for the tests and the bench: PIL + a CJK font from Debian's packages.

Every image carries a red 样本 stamp so it can never pass for a real document. Numbers are generated with
python-stdnum's own check-digit functions, so a "valid" number is valid by the standard and a "broken" one
differs in exactly its check digit. Layouts vary (label and value in one run, label then value in a column,
label above value, two columns), as do fonts, blur, rotation, skew, JPEG quality and crops."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from stdnum.cn import ric, uscc

FONT_DIRS = (Path("/usr/share/fonts"),)
# Fonts the tests use; the bench's held-out set uses the others (see bench/ocr_accuracy.py).
TEST_FONTS = ("NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc", "NotoSansCJK-Bold.ttc")
HELD_OUT_FONTS = ("wqy-zenhei.ttc", "wqy-microhei.ttc", "uming.ttc", "ukai.ttc")
LAYOUTS = ("colon", "column", "stacked", "two_column")
HELD_OUT_LAYOUTS = ("column_wide", "boxed")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许邓冯韩曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌海燕鹏飞晓东雪梅嘉怡子涵浩然欣宇"
REGIONS = ("440106", "440104", "440305", "110105", "310115", "440604", "441302", "320106", "330106", "510107")
DISTRICTS = ("天河区", "越秀区", "海珠区", "白云区", "番禺区", "南山区", "福田区", "禅城区")
ROADS = ("中山大道西", "天河北路", "东风中路", "体育西路", "环市东路", "黄埔大道", "工业大道中", "广州大道南")
HOSPITALS = (
    "广州市第一人民医院",
    "中山大学附属第三医院",
    "广东省人民医院",
    "南方医科大学南方医院",
    "广州市妇女儿童医疗中心",
)
SCHOOLS = ("广州医科大学", "南方医科大学", "广东药科大学", "广州卫生职业技术学院", "中山大学")


def find_font(name: str) -> Path | None:
    for root in FONT_DIRS:
        for p in root.rglob(name):
            return p
    return None


def available_fonts(names: tuple[str, ...]) -> list[Path]:
    return [p for p in (find_font(n) for n in names) if p is not None]


@dataclass
class Sample:
    """One rendered image and what a perfect reader would say about it."""

    name: str
    material_type: str
    image: bytes
    fields: dict[str, str]  # expected, normalised (ISO dates)
    form: dict[str, str] = field(default_factory=dict)
    expect_type: str | None = None
    defects: set[str] = field(default_factory=set)  # finding codes planted on purpose
    today: date = date(2026, 11, 27)
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- values


def person(rng: random.Random, today: date) -> dict[str, str]:
    sex = rng.choice("男女")
    born = date(rng.randint(1965, 2003), rng.randint(1, 12), rng.randint(1, 28))
    seq = rng.randrange(0, 1000)
    seq = seq - seq % 2 + (1 if sex == "男" else 0)  # 17th digit: odd for men
    seq = min(seq, 999)
    if (seq % 2 == 1) != (sex == "男"):
        seq = seq - 1 if seq > 0 else 1
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{seq:03d}"
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return {
        "name": rng.choice(SURNAMES) + given,
        "sex": sex,
        "birth_date": born.isoformat(),
        "id_number": body + ric.calc_check_digit(body + "0"),  # stdnum wants a placeholder digit
        "address": f"广东省广州市{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
    }


def make_uscc(rng: random.Random) -> str:
    body = "91" + rng.choice(REGIONS) + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc.calc_check_digit(body)


def break_check_digit(number: str, alphabet: str = "0123456789") -> str:
    wrong = [c for c in alphabet if c != number[-1]]
    return number[:-1] + wrong[sum(map(ord, number)) % len(wrong)]


def cn_date(d: str) -> str:
    y, m, dd = d.split("-")
    return f"{y}年{int(m)}月{int(dd)}日"


def cn_date0(d: str) -> str:
    y, m, dd = d.split("-")
    return f"{y}年{m}月{dd}日"


def dotted(d: str) -> str:
    return d.replace("-", ".")


def shift(d: date, days: int) -> str:
    return (d + timedelta(days=days)).isoformat()


# ---------------------------------------------------------------- documents
# Each builder returns (title, [(printed label, printed value)], expected fields).

Line = tuple[str, str]


def _id_front(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    ethnicity = rng.choice(("汉", "汉", "壮", "回", "瑶"))
    lines = [
        ("姓名", p["name"]),
        ("性别", p["sex"]),
        ("民族", ethnicity),
        ("出生", cn_date(p["birth_date"])),
        ("住址", p["address"]),
        ("公民身份号码", p["id_number"]),
    ]
    want = {k: p[k] for k in ("name", "sex", "birth_date", "address", "id_number")}
    want["ethnicity"] = ethnicity
    return "", lines, want


def _id_back(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    start = date(today.year - rng.randint(1, 9), rng.randint(1, 12), rng.randint(1, 28))
    end = start.replace(year=start.year + rng.choice((10, 20)))
    authority = f"广州市公安局{rng.choice(DISTRICTS)[:-1]}分局"
    lines = [("签发机关", authority), ("有效期限", f"{dotted(start.isoformat())}-{dotted(end.isoformat())}")]
    want = {"issuing_authority": authority, "valid_from": start.isoformat(), "valid_to": end.isoformat()}
    return "中华人民共和国\n居民身份证", lines, want


def _business(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    code = make_uscc(rng)
    est = date(rng.randint(2005, today.year - 1), rng.randint(1, 12), rng.randint(1, 28))
    trade = rng.choice(("康宁", "仁和", "安泰", "博济", "德善"))
    name = f"广州{trade}{rng.choice(('医疗科技', '健康管理', '诊所管理'))}有限公司"
    lines = [
        ("统一社会信用代码", code),
        ("名称", name),
        ("类型", "有限责任公司（自然人投资或控股）"),
        ("法定代表人", p["name"]),
        ("注册资本", "人民币伍佰万元"),
        ("成立日期", cn_date0(est.isoformat())),
        ("营业期限", "长期"),
        ("住所", p["address"]),
    ]
    want = {
        "uscc": code,
        "entity_name": name,
        "legal_representative": p["name"],
        "establishment_date": est.isoformat(),
        "business_term_to": "长期",
    }
    return "营业执照", lines, want


def _physician_practice(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    code = "".join(rng.choice("0123456789") for _ in range(15))
    issued = date(rng.randint(2010, today.year - 1), rng.randint(1, 12), rng.randint(1, 28))
    inst = rng.choice(HOSPITALS)
    lines = [
        ("姓名", p["name"]),
        ("性别", p["sex"]),
        ("身份证件号码", p["id_number"]),
        ("证书编码", code),
        ("医师级别", "执业医师"),
        ("执业类别", "临床"),
        ("执业范围", "内科专业"),
        ("执业地点", "广东省"),
        ("主要执业机构", inst),
        ("发证日期", cn_date0(issued.isoformat())),
    ]
    want = {"name": p["name"], "id_number": p["id_number"], "cert_code": code, "main_institution": inst}
    want["issue_date"] = issued.isoformat()
    return "医师执业证书", lines, want


def _physician_qual(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    code = "".join(rng.choice("0123456789") for _ in range(rng.choice((15, 18, 24))))
    issued = date(rng.randint(2005, today.year - 1), rng.randint(1, 12), rng.randint(1, 28))
    lines = [
        ("姓名", p["name"]),
        ("身份证件号码", p["id_number"]),
        ("证书编码", code),
        ("级别", "执业医师"),
        ("类别", rng.choice(("临床", "中医", "口腔"))),
        ("签发日期", cn_date0(issued.isoformat())),
    ]
    want = {"name": p["name"], "id_number": p["id_number"], "cert_code": code, "issue_date": issued.isoformat()}
    return "医师资格证书", lines, want


def _nurse_practice(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    first = date(rng.randint(2010, today.year - 2), rng.randint(1, 12), rng.randint(1, 28))
    no = f"{first.year}{rng.randrange(10**8):08d}"
    valid_to = date(today.year + rng.randint(1, 4), rng.randint(1, 12), rng.randint(1, 28))
    inst = rng.choice(HOSPITALS)
    lines = [
        ("姓名", p["name"]),
        ("身份证件号码", p["id_number"]),
        ("证书编号", no),
        ("执业地点", inst),
        ("首次注册日期", cn_date0(first.isoformat())),
        ("注册有效期至", cn_date0(valid_to.isoformat())),
    ]
    want = {"name": p["name"], "id_number": p["id_number"], "cert_no": no, "practice_institution": inst}
    want |= {"first_registration_date": first.isoformat(), "valid_to": valid_to.isoformat()}
    return "护士执业证书", lines, want


def _health_check(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    checked = today - timedelta(days=rng.randint(3, 120))
    inst = rng.choice(HOSPITALS)
    lines = [
        ("姓名", p["name"]),
        ("性别", p["sex"]),
        ("身份证件号码", p["id_number"]),
        ("体检机构", inst),
        ("体检日期", checked.isoformat()),
        ("体检结论", "未发现影响执业的疾病"),
        ("主检医师", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)),
    ]
    want = {"name": p["name"], "id_number": p["id_number"], "institution": inst, "check_date": checked.isoformat()}
    want["conclusion"] = "未发现影响执业的疾病"
    return "健康体检报告", lines, want


def _diploma(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    grad = date(rng.randint(2000, today.year - 1), rng.choice((6, 7)), rng.randint(1, 30))
    no = "".join(rng.choice("0123456789") for _ in range(18))
    school = rng.choice(SCHOOLS)
    major = rng.choice(("护理", "助产", "临床医学", "口腔医学"))
    lines = [
        ("姓名", p["name"]),
        ("专业", major),
        ("学制", rng.choice(("三年", "四年", "五年"))),
        ("学历层次", rng.choice(("大专", "本科"))),
        ("学校名称", school),
        ("毕业日期", cn_date0(grad.isoformat())),
        ("证书编号", no),
    ]
    want = {"name": p["name"], "major": major, "school": school, "graduation_date": grad.isoformat(), "cert_no": no}
    return "毕业证书", lines, want


def _medical_institution(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    reg = "PDY" + "".join(rng.choice("0123456789") for _ in range(17)) + "A1001"
    start = date(today.year - rng.randint(0, 3), rng.randint(1, 12), rng.randint(1, 28))
    end = start.replace(year=start.year + 5) - timedelta(days=1)
    name = f"广州{rng.choice(('康宁', '仁和', '安泰', '博济'))}{rng.choice(('门诊部', '诊所', '医院'))}"
    lines = [
        ("机构名称", name),
        ("登记号", reg),
        ("地址", p["address"]),
        ("法定代表人", p["name"]),
        ("主要负责人", p["name"]),
        ("诊疗科目", "内科；外科；医学检验科"),
        ("有效期限", f"自{cn_date0(start.isoformat())}至{cn_date0(end.isoformat())}"),
    ]
    want = {"institution_name": name, "registration_no": reg, "legal_representative": p["name"]}
    want |= {"valid_from": start.isoformat(), "valid_to": end.isoformat()}
    return "医疗机构执业许可证", lines, want


def _hygiene_licence(rng: random.Random, p: dict[str, str], today: date) -> tuple[str, list[Line], dict[str, str]]:
    start = date(today.year - rng.randint(0, 3), rng.randint(1, 12), rng.randint(1, 28))
    end = start.replace(year=start.year + 4) - timedelta(days=1)
    no = f"粤卫公证字〔{start.year}〕第{rng.randrange(10**6):06d}号"
    unit = f"广州{rng.choice(('悦榕', '丽晶', '星河', '云端'))}{rng.choice(('酒店有限公司', '美容美发店', '游泳馆'))}"
    lines = [
        ("许可证号", no),
        ("单位名称", unit),
        ("法定代表人", p["name"]),
        ("地址", p["address"]),
        ("许可项目", rng.choice(("住宿", "美容", "游泳场馆"))),
        ("有效期限", f"{cn_date0(start.isoformat())}至{cn_date0(end.isoformat())}"),
    ]
    want = {"licence_no": no, "unit_name": unit, "legal_representative": p["name"]}
    want |= {"valid_from": start.isoformat(), "valid_to": end.isoformat()}
    return "公共场所卫生许可证", lines, want


BUILDERS = {
    "resident_id_card/front": ("resident_id_card", _id_front),
    "resident_id_card/back": ("resident_id_card", _id_back),
    "business_licence": ("business_licence", _business),
    "physician_practice_cert": ("physician_practice_cert", _physician_practice),
    "physician_qualification_cert": ("physician_qualification_cert", _physician_qual),
    "nurse_practice_cert": ("nurse_practice_cert", _nurse_practice),
    "health_check_report": ("health_check_report", _health_check),
    "diploma": ("diploma", _diploma),
    "medical_institution_licence": ("medical_institution_licence", _medical_institution),
    "public_place_hygiene_licence": ("public_place_hygiene_licence", _hygiene_licence),
}

# ---------------------------------------------------------------- rendering


def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    # Noto CJK collections hold JP, KR, SC, TC, HK faces: take the simplified-Chinese one.
    index = 2 if path.name.startswith("Noto") and path.suffix == ".ttc" else 0
    return ImageFont.truetype(str(path), size, index=index)


def render(title: str, lines: list[Line], *, font: Path, layout: str, rng: random.Random) -> Image.Image:
    card = not title or title.startswith("中华人民共和国")
    width = 1100 if card else 1240
    size = rng.randint(30, 36)
    f = _font(font, size)
    small = _font(font, max(20, size - 8))
    big = _font(font, size + 22)
    pad = 70
    row = int(size * (2.6 if layout == "stacked" else 1.9))
    slots: list[int] = []
    pos = 0
    for label, value in lines:
        if len(label) + len(value) > 12 and pos % 2:
            pos += 1  # a long value starts on a fresh row
        slots.append(pos)
        pos += 2 if len(label) + len(value) > 12 else 1
    rows = len(lines) if layout != "two_column" else (pos + 1) // 2
    title_h = (big.size + 30) * (title.count("\n") + 1) if title else 40
    height = pad * 2 + title_h + rows * row + 60
    bg = tuple(rng.randint(238, 255) for _ in range(3))
    img = Image.new("RGB", (width, height), bg)  # type: ignore[arg-type]
    d = ImageDraw.Draw(img)
    ink = (rng.randint(0, 40),) * 3
    label_ink = (rng.randint(60, 110),) * 3
    y: float = pad
    for t in title.split("\n") if title else ():
        tw = d.textlength(t, font=big)
        d.text(((width - tw) / 2, y), t, font=big, fill=ink)
        y += big.size + 30
    if not title:
        y += 40
    # The 样本 stamp: red, boxed, in the top-right corner, away from every label.
    stamp = _font(font, 30)
    d.rectangle((width - 150, 18, width - 30, 68), outline=(200, 30, 30), width=3)
    d.text((width - 120, 24), "样本", font=stamp, fill=(200, 30, 30))
    col_gap = rng.randint(20, 60)
    label_w = max(d.textlength(lab, font=f) for lab, _ in lines)
    x0 = pad
    for i, (label, value) in enumerate(lines):
        if layout == "two_column":
            # Short values pair up in two columns; a long one takes the whole row (as on real licences).
            slot = slots[i]
            x = x0 if slot % 2 == 0 else width // 2 + 10
            yy = y + (slot // 2) * row
            d.text((x, yy), label, font=small, fill=label_ink)
            d.text((x + d.textlength(label, font=small) + 24, yy), value, font=small, fill=ink)
            continue
        yy = y + i * row
        if layout == "colon":
            d.text((x0, yy), f"{label}：{value}", font=f, fill=ink)
        elif layout in ("column", "column_wide", "boxed"):
            gap = col_gap * (3 if layout == "column_wide" else 1)
            d.text((x0, yy), label, font=f, fill=label_ink)
            vx = x0 + label_w + gap
            if layout == "boxed":
                d.rectangle((x0 - 12, yy - 10, width - pad + 12, yy + row - 14), outline=(120, 120, 120), width=2)
                d.line((vx - gap / 2, yy - 10, vx - gap / 2, yy + row - 14), fill=(120, 120, 120), width=2)
            d.text((vx, yy), value, font=f, fill=ink)
        elif layout == "stacked":
            d.text((x0, yy), label, font=small, fill=label_ink)
            d.text((x0 + 10, yy + small.size + 8), value, font=f, fill=ink)
    return img


def _encode(img: Image.Image, *, quality: int, fmt: str = "JPEG", exif_orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG")
    else:
        kw: dict[str, Any] = {"quality": quality}
        if exif_orientation:
            exif = Image.Exif()
            exif[0x0112] = exif_orientation
            kw["exif"] = exif.tobytes()
        img.convert("RGB").save(buf, "JPEG", **kw)
    return buf.getvalue()


def degrade(img: Image.Image, *, rotate: int = 0, skew: float = 0.0, blur: float = 0.0) -> Image.Image:
    if skew:
        img = img.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(250, 250, 250))
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if rotate:
        img = img.rotate(rotate, expand=True)  # counter-clockwise, lossless for multiples of 90
    return img


# ---------------------------------------------------------------- sets

DEFECTS = (
    "id_checksum_invalid",
    "uscc_checksum_invalid",
    "expired",
    "name_mismatch",
    "id_mismatch",
    "birth_date_mismatch",
    "blurry",
    "low_resolution",
    "incomplete",
    "wrong_material",
    "unreadable",
)


def make_sample(
    kind: str,
    rng: random.Random,
    *,
    fonts: list[Path],
    layouts: tuple[str, ...] = LAYOUTS,
    today: date = date(2026, 11, 27),
    defect: str | None = None,
    rotate: int | None = None,
) -> Sample:
    material_type, build = BUILDERS[kind]
    p = person(rng, today)
    title, lines, want = build(rng, p, today)
    form: dict[str, str] = {}
    name_key = "name" if "name" in want else "legal_representative" if "legal_representative" in want else None
    if name_key:
        form[name_key] = p["name"]
    if "id_number" in want:
        form["id_number"] = p["id_number"]
    defects: set[str] = set()
    expect = material_type

    def set_line(label: str, value: str) -> None:
        for i, (lab, _) in enumerate(lines):
            if lab == label:
                lines[i] = (lab, value)

    if defect == "id_checksum_invalid":
        bad = break_check_digit(want["id_number"])
        want["id_number"] = bad
        set_line("公民身份号码" if kind.endswith("front") else "身份证件号码", bad)
        form["id_number"] = bad  # the applicant copied the same wrong number: only the checksum is wrong
    elif defect == "uscc_checksum_invalid":
        bad = break_check_digit(want["uscc"], "0123456789ABCDEFGHJKLMNPQRTUWXY")
        want["uscc"] = bad
        set_line("统一社会信用代码", bad)
    elif defect == "expired":
        if kind == "health_check_report":
            old = today - timedelta(days=rng.randint(200, 500))
            want["check_date"] = old.isoformat()
            set_line("体检日期", old.isoformat())
        elif kind == "nurse_practice_cert":
            old = today - timedelta(days=rng.randint(5, 400))
            want["valid_to"] = old.isoformat()
            set_line("注册有效期至", cn_date0(old.isoformat()))
        elif kind == "resident_id_card/back":
            end = today - timedelta(days=rng.randint(5, 400))
            start = end.replace(year=end.year - 10)
            want["valid_from"], want["valid_to"] = start.isoformat(), end.isoformat()
            set_line("有效期限", f"{dotted(start.isoformat())}-{dotted(end.isoformat())}")
        else:
            raise ValueError(f"no expiry defect for {kind}")
    elif defect == "name_mismatch":
        other = person(rng, today)["name"]
        while other == p["name"]:
            other = person(rng, today)["name"]
        form[name_key or "name"] = other
    elif defect == "id_mismatch":
        form["id_number"] = person(rng, today)["id_number"]
    elif defect == "birth_date_mismatch":
        born = date.fromisoformat(p["birth_date"]) + timedelta(days=rng.randint(40, 400))
        want["birth_date"] = born.isoformat()
        set_line("出生", cn_date(born.isoformat()))
    elif defect == "wrong_material":
        others = sorted({t for t, _ in BUILDERS.values()} - {material_type})
        expect = rng.choice(others)
    if defect:
        defects.add(defect)

    font = rng.choice(fonts)
    layout = rng.choice(layouts)
    img = render(title, lines, font=font, layout=layout, rng=rng)
    rot = rotate if rotate is not None else rng.choice((0, 0, 0, 0, 0, 90, 180, 270))
    skew = 0.0 if rot else rng.uniform(-3.0, 3.0)
    blur = rng.uniform(0.0, 0.8)
    if defect == "blurry":
        blur = rng.uniform(4.0, 6.0)
    if defect == "incomplete":
        # Cropped: the lower part of the document is missing.
        img = img.crop((0, 0, img.width, int(img.height * rng.uniform(0.38, 0.5))))
    if defect == "unreadable":
        img = Image.effect_noise((900, 700), 40).convert("RGB")
        want = {}
    img = degrade(img, rotate=rot, skew=skew, blur=blur)
    if defect == "low_resolution":
        scale = 300 / img.width
        img = img.resize((300, max(1, int(img.height * scale))), Image.Resampling.BILINEAR)
    exif = None
    if rot == 0 and defect is None and rng.random() < 0.15:
        # A phone that stores pixels sideways and says so in EXIF (orientation 6: rotate 90° CW to view).
        img = img.rotate(90, expand=True)
        exif = 6
    data = _encode(img, quality=rng.randint(55, 92), exif_orientation=exif)
    return Sample(
        name=f"{kind}-{layout}-{font.stem}-r{rot}-{defect or 'clean'}",
        material_type=material_type,
        image=data,
        fields=want,
        form=form,
        expect_type=expect,
        defects=defects,
        today=today,
        meta={"kind": kind, "layout": layout, "font": font.name, "rotate": rot, "exif": exif},
    )


DEFECTS_BY_KIND: dict[str, tuple[str, ...]] = {
    "resident_id_card/front": ("id_checksum_invalid", "name_mismatch", "id_mismatch", "birth_date_mismatch"),
    "resident_id_card/back": ("expired",),
    "business_licence": ("uscc_checksum_invalid", "name_mismatch"),
    "health_check_report": ("expired", "id_checksum_invalid", "name_mismatch"),
    "nurse_practice_cert": ("expired", "id_mismatch"),
    "physician_practice_cert": ("id_checksum_invalid", "name_mismatch"),
    "physician_qualification_cert": ("id_mismatch",),
    "diploma": ("name_mismatch",),
    "medical_institution_licence": ("name_mismatch",),
    "public_place_hygiene_licence": ("name_mismatch",),
}
GENERIC_DEFECTS = ("blurry", "low_resolution", "incomplete", "wrong_material", "unreadable")


def make_set(
    seed: int,
    *,
    clean_per_kind: int,
    defects: bool = True,
    fonts: list[Path] | None = None,
    layouts: tuple[str, ...] = LAYOUTS,
    today: date = date(2026, 11, 27),
    one_per_defect: bool = False,
) -> list[Sample]:
    """``clean_per_kind`` clean images of every kind, then one image per (kind, planted defect), or with
    ``one_per_defect`` one image per defect code (the test suite's smaller set)."""
    rng = random.Random(seed)
    fonts = fonts or available_fonts(TEST_FONTS)
    if not fonts:
        raise RuntimeError("no CJK font found: install fonts-noto-cjk (scripts/services does)")
    out = [
        make_sample(kind, rng, fonts=fonts, layouts=layouts, today=today)
        for kind in BUILDERS
        for _ in range(clean_per_kind)
    ]
    if defects:
        seen: set[str] = set()
        for kind, codes in DEFECTS_BY_KIND.items():
            for code in codes:
                if one_per_defect and code in seen:
                    continue
                seen.add(code)
                out.append(make_sample(kind, rng, fonts=fonts, layouts=layouts, today=today, defect=code, rotate=0))
        kinds = list(BUILDERS)
        for i, code in enumerate(GENERIC_DEFECTS):
            kind = kinds[(seed + i * 3) % len(kinds)]
            out.append(make_sample(kind, rng, fonts=fonts, layouts=layouts, today=today, defect=code, rotate=0))
    return out
