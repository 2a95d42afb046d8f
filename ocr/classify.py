"""Auto-perception (材料自动感知): which registry material type an image shows, with a confidence.

Evidence is the printed words of each type (``ocr_keywords`` in the registry), its title as a line of its own,
and its field labels at the start of lines. A score is summed per type; the confidence compares the best with
the runner-up and with how much evidence there is at all."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ocr.engine import TextLine
from ocr.layout import norm
from ocr.registry import MaterialSpec, Registry


@dataclass(frozen=True)
class Verdict:
    material_type: str | None
    confidence: float
    runner_up: str | None
    scores: dict[str, float]


def _titles(spec: MaterialSpec) -> list[str]:
    parts = [p for p in re.split(r"[（）()]", spec.name) if len(p) >= 3]
    return parts


def score(spec: MaterialSpec, texts: list[str], joined: str) -> float:
    s = 0.0
    for title in _titles(spec):
        t = norm(title)
        # The title as (most of) a line of its own is the strongest evidence there is.
        if any(t in line and len(t) >= 0.6 * len(line) for line in texts):
            s += 6 + len(t)
    for kw in spec.keywords:
        if norm(kw) in joined:
            s += min(len(kw), 6)
    for labels in spec.labels.values():
        if any(line.startswith(norm(lab)) for lab in labels[:1] for line in texts):
            s += 1.0
    return s


def classify(lines: list[TextLine], registry: Registry) -> Verdict:
    texts = [norm(ln.text) for ln in lines if ln.text.strip()]
    joined = "".join(texts)
    scores = {spec.id: score(spec, texts, joined) for spec in registry}
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, s1), (second, s2) = ranked[0], ranked[1]
    if s1 < 4:
        return Verdict(None, 0.0, best if s1 > 0 else None, scores)
    margin = (s1 - s2) / s1
    evidence = 1 - math.exp(-s1 / 10)
    confidence = round(min(1.0, 0.5 * evidence + 0.6 * margin), 3)
    return Verdict(best, confidence, second, scores)
