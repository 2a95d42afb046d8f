"""Scoring a reader against generated samples: the figures the tests assert and the bench reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ocr.samples import Sample

IMAGE_DEFECTS = {"blurry", "low_resolution", "incomplete", "unreadable"}
NEUTRAL = {"ocr_corrected"}  # a reported correction is not a false alarm


@dataclass
class Score:
    type_total: int = 0
    type_right: int = 0
    fields_total: int = 0
    fields_exact: int = 0
    defects_total: int = 0
    defects_found: int = 0
    clean_total: int = 0
    clean_flagged: int = 0
    misses: list[str] = field(default_factory=list)
    wrong_fields: Counter = field(default_factory=Counter)

    def add(self, sample: Sample, result: dict[str, Any]) -> None:
        codes = {f["code"] for f in result["findings"]}
        if "unreadable" not in sample.defects:
            self.type_total += 1
            if result["material_type"] == sample.material_type:
                self.type_right += 1
            else:
                self.misses.append(f"type {sample.name}: {result['material_type']}")
        if not sample.defects & IMAGE_DEFECTS:
            for key, want in sample.fields.items():
                self.fields_total += 1
                got = result["fields"].get(key)
                if got == want:
                    self.fields_exact += 1
                else:
                    self.wrong_fields[f"{sample.meta['kind']}.{key}"] += 1
                    self.misses.append(f"field {sample.name}.{key}: {got!r} != {want!r}")
        for code in sample.defects:
            self.defects_total += 1
            if code in codes:
                self.defects_found += 1
            else:
                self.misses.append(f"defect {sample.name}: {code} not in {sorted(codes)}")
        if not sample.defects:
            self.clean_total += 1
            extra = codes - NEUTRAL
            if extra:
                self.clean_flagged += 1
                self.misses.append(f"false {sample.name}: {sorted(extra)}")

    @staticmethod
    def _rate(a: int, b: int) -> float:
        return a / b if b else 1.0

    @property
    def type_accuracy(self) -> float:
        return self._rate(self.type_right, self.type_total)

    @property
    def field_accuracy(self) -> float:
        return self._rate(self.fields_exact, self.fields_total)

    @property
    def defect_recall(self) -> float:
        return self._rate(self.defects_found, self.defects_total)

    @property
    def false_finding_rate(self) -> float:
        return self.clean_flagged / self.clean_total if self.clean_total else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "type_accuracy": round(self.type_accuracy, 4),
            "type_n": self.type_total,
            "field_accuracy": round(self.field_accuracy, 4),
            "field_n": self.fields_total,
            "defect_recall": round(self.defect_recall, 4),
            "defect_n": self.defects_total,
            "false_finding_rate": round(self.false_finding_rate, 4),
            "clean_n": self.clean_total,
        }
