"""Geometry: bring OCR lines into an upright, deskewed frame and pair labels with values by position.

Labels and values are paired by where they sit, not by the order the engine returns them: a value is the
nearest line to the right of its label on the same row, else the nearest line just below it; a label and value
the engine read as one line ("姓名：张三", "姓名张三") are split at the label."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from dataclasses import dataclass

from ocr.engine import TextLine

_SPACES = re.compile(r"[\s\u3000]+")
_PUNCT_LEAD = re.compile(r"^[：:;；,，.。、\-—\s]+")


def norm(text: str) -> str:
    """Compare text without spaces and with ASCII punctuation for the full-width forms OCR mixes up."""
    return _SPACES.sub("", text).replace("：", ":").replace("（", "(").replace("）", ")")


def is_vertical_page(lines: list[TextLine]) -> bool:
    """Most multi-character lines taller than wide: the page is turned by 90° or 270°."""
    long = [ln for ln in lines if len(ln.text) >= 3]
    if not long:
        return False
    return sum(1 for ln in long if ln.h > 1.3 * ln.w) > len(long) / 2


def _angle(line: TextLine) -> float | None:
    (x0, y0), (x1, y1) = line.box[0], line.box[1]
    if line.w < 3 * max(line.h, 1):
        return None
    a = math.degrees(math.atan2(y1 - y0, x1 - x0))
    while a > 45:
        a -= 180
    while a < -45:
        a += 180
    return a


def upright(lines: list[TextLine], width: int, height: int, *, flipped: bool) -> tuple[list[TextLine], float]:
    """Map lines into an upright frame: turn by 180° when the page is upside down, then undo the skew
    (median angle of the long lines) by rotating the boxes, not the pixels. Returns (lines, skew degrees)."""
    if flipped:
        lines = [TextLine(ln.text, ln.score, tuple((width - x, height - y) for x, y in ln.box)) for ln in lines]
    angles = [a for a in (_angle(ln) for ln in lines) if a is not None]
    skew = statistics.median(angles) if angles else 0.0
    if abs(skew) < 0.3:
        return lines, skew
    rad = math.radians(-skew)
    cx, cy, c, s = width / 2, height / 2, math.cos(rad), math.sin(rad)

    def turn(p: tuple[float, float]) -> tuple[float, float]:
        x, y = p[0] - cx, p[1] - cy
        return (cx + x * c - y * s, cy + x * s + y * c)

    return [TextLine(ln.text, ln.score, tuple(turn(p) for p in ln.box)) for ln in lines], skew


def split_stacked(lines: list[TextLine]) -> list[TextLine]:
    """Short values stacked one above the other ("女" over "汉") can come back as one tall box read as a
    vertical line. On an upright page, cut such a box into one line per character."""
    heights = sorted(ln.h for ln in lines if ln.w >= ln.h)
    if not heights:
        return lines
    typical = heights[len(heights) // 2]
    out: list[TextLine] = []
    for ln in lines:
        n = len(ln.text)
        if n >= 2 and ln.h > 1.5 * ln.w and ln.h > 1.6 * typical:
            step = ln.h / n
            for i, ch in enumerate(ln.text):
                ya, yb = ln.y0 + i * step, ln.y0 + (i + 1) * step
                out.append(TextLine(ch, ln.score, ((ln.x0, ya), (ln.x1, ya), (ln.x1, yb), (ln.x0, yb))))
        else:
            out.append(ln)
    return out


@dataclass
class Labelled:
    key: str
    label: str
    line: TextLine
    inline: str  # text after the label on the same OCR line


def split_at_labels(lines: list[TextLine], labels: list[str]) -> list[TextLine]:
    """The engine sometimes reads two neighbouring cells as one line ("住址…公民身份号码…"). Cut such a line
    where a later label starts; each part gets the share of the box its characters take."""
    ordered = sorted((lab for lab in labels if len(lab) >= 2), key=len, reverse=True)
    out: list[TextLine] = []
    for ln in lines:
        t = norm(ln.text)
        cuts, i = [], 0
        while i < len(t):
            lab = next((lab for lab in ordered if t.startswith(lab, i)), None)
            if lab is None:
                i += 1
                continue
            if i > 0:
                cuts.append(i)
            i += len(lab)
        if not cuts:
            out.append(ln)
            continue
        bounds = [0, *cuts, len(t)]
        n = len(t)
        for a, b in itertools.pairwise(bounds):
            xa, xb = ln.x0 + ln.w * a / n, ln.x0 + ln.w * b / n
            box = ((xa, ln.y0), (xb, ln.y0), (xb, ln.y1), (xa, ln.y1))
            out.append(TextLine(t[a:b], ln.score, box))
    return out


def find_labels(
    lines: list[TextLine], labels: dict[str, tuple[str, ...]]
) -> tuple[list[Labelled], set[int], list[TextLine]]:
    """Lines that start with a field's printed label (longest label wins). Returns the hits, the ids of the
    lines that are labels (never taken as another field's value) and the lines after splitting."""
    by_label: list[tuple[str, str]] = sorted(
        ((norm(lab), key) for key, labs in labels.items() for lab in labs), key=lambda t: len(t[0]), reverse=True
    )
    hits: list[Labelled] = []
    label_ids: set[int] = set()
    lines = split_at_labels(lines, [lab for lab, _ in by_label])
    for ln in lines:
        t = norm(ln.text)
        for lab, _key in by_label:
            if t.startswith(lab):
                rest = _PUNCT_LEAD.sub("", t[len(lab) :])
                keys = [k for lb, k in by_label if lb == lab]
                hits.extend(Labelled(k, lab, ln, rest) for k in keys)
                label_ids.add(id(ln))
                break
    return hits, label_ids, lines


def same_row(a: TextLine, b: TextLine) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.h, b.h)


def value_for(hit: Labelled, lines: list[TextLine], label_ids: set[int]) -> TextLine | None:
    """The nearest non-label line to the right on the same row; else the nearest one just below."""
    lab = hit.line
    right = [
        ln
        for ln in lines
        if id(ln) not in label_ids and ln is not lab and same_row(lab, ln) and ln.x0 > lab.x1 - 0.5 * lab.h
    ]
    if right:
        return min(right, key=lambda ln: ln.x0)
    below = [
        ln
        for ln in lines
        if id(ln) not in label_ids
        and ln is not lab
        and 0 <= ln.y0 - lab.y1 + 0.3 * lab.h <= 1.6 * lab.h
        and abs(ln.x0 - lab.x0) < 2.5 * lab.h
    ]
    if below:
        return min(below, key=lambda ln: ln.y0)
    return None
