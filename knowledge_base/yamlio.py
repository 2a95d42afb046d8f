"""The two file formats of the knowledge base.

* The seed format (``data/kb/faq.yaml``): ``{version: 1, entries: [{id, question, similar, answer, item_code,
  tags}]}``, optionally ``synonyms: [{term, canonical}]``.
* Rasa's retrieval intents: an NLU file with ``- intent: faq/<key>`` and its ``examples`` (the question first,
  then the similar ones), plus a domain/responses file with ``utter_faq/<key>: [{text: answer}]``. We write both
  into one YAML document (``version``, ``nlu``, ``responses``), which Rasa accepts as training data.

Parsing validates every entry and reports all problems at once, with the entry's position, before anything is
written (an import never half-happens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from case_core.domain.errors import ValidationFailed

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_TEXT = 4000


@dataclass
class EntryData:
    key: str
    question: str
    answer: str
    similar: list[str] = field(default_factory=list)
    item_code: str | None = None
    tags: list[str] = field(default_factory=list)

    def as_seed(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "question": self.question,
            "similar": list(self.similar),
            "answer": self.answer,
            "item_code": self.item_code,
            "tags": list(self.tags),
        }


@dataclass
class KbFile:
    entries: list[EntryData]
    synonyms: list[tuple[str, str]] = field(default_factory=list)


class KbFileInvalid(ValidationFailed):
    code = "kb_file_invalid"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"知识库文件有{len(problems)}处错误：{problems[0]}", problems=problems[:50])


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _examples(block: Any) -> list[str]:
    if isinstance(block, list):
        return [str(x).strip() for x in block if str(x).strip()]
    if isinstance(block, str):
        return [line.strip()[1:].strip() for line in block.splitlines() if line.strip().startswith("-")]
    return []


def parse(text: str) -> KbFile:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KbFileInvalid([f"不是有效的YAML：{str(exc).splitlines()[0]}"]) from exc
    if not isinstance(doc, dict):
        raise KbFileInvalid(["文件内容应为YAML映射（entries 或 nlu）"])
    if "entries" in doc:
        return _parse_seed(doc)
    if "nlu" in doc:
        return _parse_rasa(doc)
    raise KbFileInvalid(["文件既没有 entries（种子格式），也没有 nlu（Rasa格式）"])


def _check(entries: list[EntryData], problems: list[str]) -> None:
    seen: set[str] = set()
    for i, e in enumerate(entries, 1):
        where = f"第{i}条（{e.key or '无id'}）"
        if not e.key or not KEY_PATTERN.match(e.key):
            problems.append(f"{where}：id 缺失或格式不正确")
        elif e.key in seen:
            problems.append(f"{where}：id 重复")
        seen.add(e.key)
        if not e.question:
            problems.append(f"{where}：缺少问题")
        if not e.answer:
            problems.append(f"{where}：缺少答案")
        if len(e.answer) > MAX_TEXT or len(e.question) > 500 or any(len(s) > 500 for s in e.similar):
            problems.append(f"{where}：内容过长")
    if problems:
        raise KbFileInvalid(problems)


def _parse_synonyms(raw: Any, problems: list[str]) -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(raw or [], 1):
        term, canonical = (_text(s.get("term")), _text(s.get("canonical"))) if isinstance(s, dict) else (None, None)
        if not term or not canonical:
            problems.append(f"同义词第{i}条：需要 term 和 canonical")
        else:
            out.append((term, canonical))
    return out


def _parse_seed(doc: dict[str, Any]) -> KbFile:
    problems: list[str] = []
    entries = []
    for i, raw in enumerate(doc.get("entries") or [], 1):
        if not isinstance(raw, dict):
            problems.append(f"第{i}条：应为映射")
            continue
        tags = raw.get("tags") or []
        entries.append(
            EntryData(
                key=str(raw.get("id") or "").strip(),
                question=_text(raw.get("question")) or "",
                answer=_text(raw.get("answer")) or "",
                similar=[str(s).strip() for s in raw.get("similar") or [] if str(s).strip()],
                item_code=_text(raw.get("item_code")),
                tags=[str(t) for t in tags] if isinstance(tags, list) else [],
            )
        )
    synonyms = _parse_synonyms(doc.get("synonyms"), problems)
    _check(entries, problems)
    return KbFile(entries, synonyms)


def _parse_rasa(doc: dict[str, Any]) -> KbFile:
    problems: list[str] = []
    responses = doc.get("responses") or {}
    entries = []
    for i, block in enumerate(doc.get("nlu") or [], 1):
        intent = str(block.get("intent", "")) if isinstance(block, dict) else ""
        if not intent.startswith("faq/"):
            continue  # other intents of an NLU file are not knowledge-base entries
        key = intent[4:]
        examples = _examples(block.get("examples"))
        answers = responses.get(f"utter_faq/{key}") or []
        answer = _text(answers[0].get("text")) if answers and isinstance(answers[0], dict) else None
        if not examples:
            problems.append(f"第{i}个意图（{intent}）：没有 examples")
            continue
        meta = block.get("metadata") or {}
        entries.append(
            EntryData(
                key=key,
                question=examples[0],
                similar=examples[1:],
                answer=answer or "",
                item_code=_text(meta.get("item_code")),
                tags=list(meta.get("tags") or []),
            )
        )
    _check(entries, problems)
    return KbFile(entries, [])


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def dump_seed(entries: list[EntryData], synonyms: list[tuple[str, str]]) -> str:
    doc: dict[str, Any] = {"version": 1, "entries": [e.as_seed() for e in entries]}
    if synonyms:
        doc["synonyms"] = [{"term": t, "canonical": c} for t, c in synonyms]
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)


def dump_rasa(entries: list[EntryData]) -> str:
    nlu = []
    for e in entries:
        block: dict[str, Any] = {
            "intent": f"faq/{e.key}",
            "examples": "".join(f"- {q}\n" for q in [e.question, *e.similar]),
        }
        if e.item_code or e.tags:
            block["metadata"] = {"item_code": e.item_code, "tags": list(e.tags)}
        nlu.append(block)
    responses = {f"utter_faq/{e.key}": [{"text": e.answer}] for e in entries}
    doc = {"version": "3.1", "nlu": nlu, "responses": responses}
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
