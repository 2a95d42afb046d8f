"""The material registry (data/materials.yaml): what each material type looks like and which fields it carries.

The printed label of a field is not always the registry's label: the registry writes ``有效期限（起）`` for what
the card prints as one ``有效期限 2015.03.01-2035.03.01`` line. ``PRINTED_LABELS`` adds the printed forms; the
registry stays the one source of the field keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from case_core.settings import REPO_DATA


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    regex: re.Pattern[str] | None
    kind: str  # date / id_number / uscc / sex / name / text / period


@dataclass(frozen=True)
class MaterialSpec:
    id: str
    name: str
    keywords: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    validity: dict[str, Any]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key -> printed labels, longest first

    @property
    def title(self) -> str:
        """The printed title: the name without its parenthesised gloss (学历证书（毕业证书） → 学历证书)."""
        return re.split(r"[（(]", self.name, maxsplit=1)[0]

    def field(self, key: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.key == key), None)


# Printed labels beyond the registry's own (the registry label is always tried too).
PRINTED_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "resident_id_card": {"birth_date": ("出生",), "valid_from": ("有效期限",), "valid_to": ("有效期限",)},
    "business_licence": {
        "legal_representative": ("法定代表人", "经营者", "负责人"),
        "business_term_to": ("营业期限",),
        "address": ("住所", "经营场所"),
    },
    "medical_institution_licence": {"valid_from": ("有效期限",), "valid_to": ("有效期限",)},
    "public_place_hygiene_licence": {
        "legal_representative": ("法定代表人", "负责人"),
        "valid_from": ("有效期限",),
        "valid_to": ("有效期限",),
    },
    "nurse_practice_cert": {"practice_institution": ("执业地点", "执业机构")},
    "physician_qualification_cert": {"cert_code": ("证书编码", "资格证书编码")},
    "diploma": {"school": ("学校名称", "学校")},
    "health_check_report": {"check_date": ("体检日期", "报告日期")},
}

# Fields whose values are dates and are normalised to ISO; periods print "from-to" after one label.
_DATE_HINT = re.compile(r"日期|出生|有效期|期限|注册日期|签发|发证")


def _kind(key: str, label: str) -> str:
    if key in {"id_number", "mother_id_number"}:
        return "id_number"
    if key == "uscc":
        return "uscc"
    if key == "sex":
        return "sex"
    if key in {"name", "legal_representative", "principal", "holder_name", "head_name", "newborn_name"}:
        return "name"
    if key.endswith("_date") or key in {"valid_from", "valid_to", "business_term_to", "birth_date"}:
        return "date"
    if _DATE_HINT.search(label) and key.endswith(("_to", "_from")):
        return "date"
    return "text"


def _field(raw: dict[str, Any]) -> FieldSpec:
    regex = raw.get("regex")
    return FieldSpec(
        key=raw["key"],
        label=raw["label"],
        regex=re.compile(regex) if regex else None,
        kind=_kind(raw["key"], raw["label"]),
    )


def _spec(raw: dict[str, Any]) -> MaterialSpec:
    fields = tuple(_field(f) for f in raw.get("fields") or ())
    extra = PRINTED_LABELS.get(raw["id"], {})
    labels: dict[str, tuple[str, ...]] = {}
    for f in fields:
        base = re.split(r"[（(]", f.label, maxsplit=1)[0]
        found = {f.label, base, *extra.get(f.key, ())}
        labels[f.key] = tuple(sorted((s for s in found if s), key=len, reverse=True))
    return MaterialSpec(
        id=raw["id"],
        name=raw["name"],
        keywords=tuple(raw.get("ocr_keywords") or ()),
        fields=fields,
        validity=dict(raw.get("validity") or {}),
        labels=labels,
    )


@dataclass(frozen=True)
class Registry:
    materials: dict[str, MaterialSpec]

    def get(self, material_id: str) -> MaterialSpec | None:
        return self.materials.get(material_id)

    def __iter__(self) -> Iterator[MaterialSpec]:
        return iter(self.materials.values())


def parse(doc: dict[str, Any]) -> Registry:
    return Registry({m["id"]: _spec(m) for m in doc["materials"]})


@lru_cache(maxsize=4)
def load(path: Path | None = None) -> Registry:
    path = path or REPO_DATA / "materials.yaml"
    with path.open(encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))
