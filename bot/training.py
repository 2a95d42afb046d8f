"""Reading Rasa 3 training data (nlu.yml, domain.yml, rules.yml) into plain Python structures.

Entity annotations ``[text](entity)`` and ``[text]{"entity": "e", "value": "v"}`` are stripped from the example
text and kept as spans; synonym blocks map a surface form to a value; regex and lookup blocks feed the entity
extractor."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|(?P<json>\{[^}]+\}))")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[tuple[str, str, int, int], ...] = ()  # (entity, value, start, end)


@dataclass
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # surface form → value
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Domain:
    intents: list[str]
    entities: list[str]
    responses: dict[str, list[dict[str, Any]]]
    forms: dict[str, Any]
    raw: dict[str, Any]

    def text(self, name: str) -> str:
        return str(self.responses[name][0]["text"])


@dataclass(frozen=True)
class Rule:
    name: str
    intents: tuple[str, ...]
    actions: tuple[str, ...]
    condition_loop: str | None = None


def _example_lines(block: Any) -> list[str]:
    if isinstance(block, str):
        return [ln.strip()[1:].strip() for ln in block.splitlines() if ln.strip().startswith("-")]
    return [str(x) for x in block or []]


def parse_example(raw: str, intent: str) -> Example:
    text, spans, pos, last = [], [], 0, 0
    for m in _ANNOTATION.finditer(raw):
        text.append(raw[last : m.start()])
        pos += m.start() - last
        surface = m.group("text")
        if m.group("json"):
            meta = json.loads(m.group("json"))
            entity, value = meta["entity"], meta.get("value", surface)
        else:
            entity, value = m.group("entity"), surface
        spans.append((entity, value, pos, pos + len(surface)))
        text.append(surface)
        pos += len(surface)
        last = m.end()
    text.append(raw[last:])
    return Example("".join(text), intent, tuple(spans))


def load_nlu(path: Path = DATA_DIR / "nlu.yml") -> TrainingData:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data = TrainingData()
    for block in doc.get("nlu") or []:
        if "intent" in block:
            data.examples += [parse_example(x, block["intent"]) for x in _example_lines(block.get("examples"))]
        elif "synonym" in block:
            for form in _example_lines(block.get("examples")):
                data.synonyms[form] = str(block["synonym"])
        elif "regex" in block:
            data.regexes.setdefault(block["regex"], []).extend(_example_lines(block.get("examples")))
        elif "lookup" in block:
            data.lookups.setdefault(block["lookup"], []).extend(_example_lines(block.get("examples")))
    return data


def load_domain(path: Path = DATA_DIR / "domain.yml") -> Domain:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Domain(
        intents=[i if isinstance(i, str) else next(iter(i)) for i in doc.get("intents", [])],
        entities=[e if isinstance(e, str) else next(iter(e)) for e in doc.get("entities", [])],
        responses=doc.get("responses", {}),
        forms=doc.get("forms", {}),
        raw=doc,
    )


def load_rules(path: Path = DATA_DIR / "rules.yml") -> list[Rule]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rules = []
    for r in doc.get("rules") or []:
        intents: list[str] = []
        actions: list[str] = []
        for step in r.get("steps", []):
            if "intent" in step:
                intents.append(step["intent"])
            elif "or" in step:
                intents += [s["intent"] for s in step["or"] if "intent" in s]
            elif "action" in step:
                actions.append(step["action"])
        loop = next((c.get("active_loop") for c in r.get("condition", []) if "active_loop" in c), None)
        rules.append(Rule(r.get("rule", ""), tuple(intents), tuple(actions), loop))
    return rules
