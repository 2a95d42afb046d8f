"""The knowledge base's YAML formats: the seed's, and Rasa's retrieval intents (faq/<key>)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.yamlio import KbFileInvalid, dump_rasa, dump_seed, parse

SEED = Path(__file__).resolve().parents[2] / "data" / "kb" / "faq.yaml"


def test_the_seed_parses_with_its_105_entries_and_stable_ids() -> None:
    kb = parse(SEED.read_text(encoding="utf-8"))
    assert len(kb.entries) == 105
    assert kb.entries[0].key == "faq-0001"
    assert kb.entries[0].similar and kb.entries[0].item_code == "GD-WJ-XK-0001"


def test_seed_format_round_trips() -> None:
    kb = parse(SEED.read_text(encoding="utf-8"))
    again = parse(dump_seed(kb.entries, [("护士证", "护士执业证书")]))
    assert [e.as_seed() for e in again.entries] == [e.as_seed() for e in kb.entries]
    assert again.synonyms == [("护士证", "护士执业证书")]


def test_rasa_retrieval_intent_format_round_trips() -> None:
    kb = parse(SEED.read_text(encoding="utf-8"))
    text = dump_rasa(kb.entries)
    assert "- intent: faq/faq-0001" in text
    assert "utter_faq/faq-0001:" in text
    again = parse(text)
    assert [e.as_seed() for e in again.entries] == [e.as_seed() for e in kb.entries]


def test_a_rasa_nlu_file_imports_its_faq_intents_only() -> None:
    text = """
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - 你好
  - intent: faq/opening_hours
    examples: |
      - 大厅几点开门
      - 周末上班吗
responses:
  utter_faq/opening_hours:
    - text: 工作日9:00-17:00。
"""
    kb = parse(text)
    assert len(kb.entries) == 1
    e = kb.entries[0]
    assert (e.key, e.question, e.similar, e.answer) == (
        "opening_hours",
        "大厅几点开门",
        ["周末上班吗"],
        "工作日9:00-17:00。",
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("entries: [", "不是有效的YAML"),
        ("- just a list", "映射"),
        ("foo: bar", "entries"),
        ("entries:\n  - {id: faq-1, question: 问, answer: ''}", "缺少答案"),
        ("entries:\n  - {id: faq-1, question: 问, answer: 答}\n  - {id: faq-1, question: 问2, answer: 答2}", "id 重复"),
        ("entries:\n  - {id: 'bad id!', question: 问, answer: 答}", "格式不正确"),
    ],
)
def test_bad_files_are_refused_with_every_problem_named(text: str, fragment: str) -> None:
    with pytest.raises(KbFileInvalid) as err:
        parse(text)
    assert err.value.code == "kb_file_invalid"
    assert any(fragment in p for p in err.value.details["problems"])  # type: ignore[index]
