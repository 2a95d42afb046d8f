"""Retrieval over the seed knowledge base, without a database: the index the app builds from published entries."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge_base.index import Doc, KbIndex, Weights
from knowledge_base.text import Analyzer, char_bigrams, pinyin_bigrams
from knowledge_base.yamlio import parse

DATA = Path(__file__).resolve().parents[2] / "data"


def _index(synonyms: bool = True) -> KbIndex:
    kb = parse((DATA / "kb" / "faq.yaml").read_text(encoding="utf-8"))
    analyzer = Analyzer()
    items = yaml.safe_load((DATA / "items.yaml").read_text(encoding="utf-8"))["items"]
    analyzer.add_words(i["name"] for i in items)
    if synonyms:
        analyzer.set_synonyms(parse((DATA / "kb" / "synonyms.yaml").read_text(encoding="utf-8")).synonyms)
    docs = [Doc(e.key, e.question, tuple(e.similar), e.answer, e.item_code) for e in kb.entries]
    return KbIndex(docs, analyzer)


@pytest.fixture(scope="module")
def index() -> KbIndex:
    return _index()


def test_the_canonical_question_finds_its_entry_first_with_a_high_score(index: KbIndex) -> None:
    hits = index.search("医师首次执业注册需要准备哪些材料？", 3)
    assert hits[0].key == "faq-0001"
    assert hits[0].score > 0.8
    assert hits[0].score > hits[1].score


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("护士证快到期了啥时候去续", "faq-0015"),  # synonyms: 护士证 → 护士执业证书, 啥 → 什么
        ("医生换医院了执业证要怎么弄", "faq-0005"),
        ("孩子出生证弄丢了怎么补", "faq-0048"),
    ],
)
def test_colloquial_questions_find_the_entry(index: KbIndex, question: str, key: str) -> None:
    assert index.search(question, 1)[0].key == key


def test_a_typo_still_finds_the_entry_through_character_bigrams(index: KbIndex) -> None:
    exact = index.search("补发出生医学证明需要哪些材料", 1)[0]
    typo = index.search("补发出生医学证名需要哪些材料", 1)[0]
    assert typo.key == exact.key == "faq-0049"


def test_scores_are_between_zero_and_one_and_unrelated_text_scores_low(index: KbIndex) -> None:
    assert all(0 < h.score <= 1.1 for h in index.search("护士注册", 10))
    unrelated = index.search("今天天气怎么样，推荐一部电影", 1)
    assert not unrelated or unrelated[0].score < 0.3


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "!!!???", "'; DROP TABLE kb_entries; --"])
def test_empty_and_symbol_only_queries_return_nothing_or_low_scores(index: KbIndex, text: str) -> None:
    assert all(h.score < 0.3 for h in index.search(text, 5))


def test_a_synonym_maps_to_its_canonical_term() -> None:
    analyzer = Analyzer()
    analyzer.set_synonyms([("护士证", "护士执业证书")])
    assert "护士证" not in analyzer.words("护士证怎么延续")
    assert set(analyzer.words("护士执业证书")) <= set(analyzer.words("护士证"))


def test_character_bigrams_ignore_punctuation_and_fold_width() -> None:
    assert char_bigrams("护士，注册！") == ["护士", "士注", "注册"]
    assert char_bigrams("ＡＢ") == ["ab"]


def test_an_empty_index_answers_nothing() -> None:
    assert KbIndex([], Analyzer()).search("护士注册", 5) == []


@pytest.mark.parametrize(
    ("typed", "meant", "key"),
    [
        ("户士延需主册要啥才料", "护士延续注册要啥材料", "faq-0016"),
        ("为生需可正延需要什么才料", "卫生许可证延续要什么材料", "faq-0032"),
    ],
)
def test_pinyin_keyboard_slips_are_found_through_the_pinyin_channel(
    index: KbIndex, typed: str, meant: str, key: str
) -> None:
    # Nearly every word is the wrong character with the right sound: words and character bigrams miss it.
    assert index.search(meant, 1)[0].key == key
    assert index.search(typed, 1)[0].key == key
    without = KbIndex(index.docs, index.analyzer, weights=Weights(0.35, 0.2, 0.35, 0.0, 0.1))
    assert without.search(typed, 1)[0].key != key


def test_pinyin_bigrams_fold_the_usual_fuzzy_pairs() -> None:
    assert pinyin_bigrams("执业") == pinyin_bigrams("职业") == ["zi-ye"]
    assert pinyin_bigrams("申述") == pinyin_bigrams("申诉")  # shen-shu / shen-su: s/sh folded
    assert pinyin_bigrams("登计") == pinyin_bigrams("登记")
    assert pinyin_bigrams("护士") != pinyin_bigrams("律师")
    assert pinyin_bigrams("！") == []


def test_a_latin_synonym_matches_whole_words_only() -> None:
    analyzer = Analyzer()
    analyzer.set_synonyms([("dr", "放射诊疗")])
    assert "放射诊疗" in analyzer.words("开DR要办什么")
    assert "放射诊疗" not in analyzer.words("drop table")
    assert analyzer.canonical_text("drop 新增dr") == "drop 新增放射诊疗"
