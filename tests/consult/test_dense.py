"""Dense re-ranking (knowledge_base.dense) with a real transformers model: a tiny BERT built here with transformers'
own classes (BertConfig, BertModel, BertTokenizer over a WordPiece vocabulary written by the test) and saved with
save_pretrained, so loading, tokenising, pooling and fusion run the same code as a real model would. Its weights
are random: these tests check the mechanics, not that it ranks better (it does not)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sqlalchemy import text
from transformers import BertConfig, BertModel, BertTokenizer

from knowledge_base.dense import Dense, EmbedModelError, Encoder, from_settings
from knowledge_base.index import Doc, KbIndex, Tokens
from knowledge_base.text import Analyzer, normalize
from knowledge_base.yamlio import parse
from tests.support.api import Api

SEED = Path(__file__).resolve().parents[2] / "data" / "kb" / "faq.yaml"
KB = "/api/v1/kb"


def seed_docs() -> list[Doc]:
    kb = parse(SEED.read_text(encoding="utf-8"))
    return [Doc(e.key, e.question, tuple(e.similar), e.answer, e.item_code) for e in kb.entries]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT (hidden size 32) whose vocabulary is every character of the seed and of these tests."""
    path = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted(
        {c for c in SEED.read_text(encoding="utf-8") + "核酸检测机构备案做去哪" if "\u4e00" <= c <= "\u9fff"}
    )
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n")
    tokenizer = BertTokenizer(str(path / "vocab.txt"))
    torch.manual_seed(4)
    config = BertConfig(
        vocab_size=len(chars) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def encoder(tiny_model: Path) -> Encoder:
    return Encoder(tiny_model)


def test_the_encoder_loads_from_the_local_directory_and_gives_unit_vectors(tiny_model: Path, encoder: Encoder) -> None:
    texts = ["护士首次注册要哪些材料", "卫生许可证多久能办好", "护士首次注册要哪些材料"]
    vecs = encoder.encode(texts)
    assert vecs.shape == (3, 32) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vecs[0], vecs[2])  # the same text, padded differently in the batch, same vector
    assert not np.allclose(vecs[0], vecs[1])
    # Deterministic across loads and batch sizes: the index built at start-up and the query agree.
    again = Encoder(tiny_model, batch_size=1).encode(texts)
    assert np.allclose(vecs, again, atol=1e-6)


def test_a_configured_path_that_does_not_load_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedModelError, match=r"WEIJIAN_EMBED_MODEL=.*not a directory"):
        Encoder(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"')  # cut short
    with pytest.raises(EmbedModelError, match="cannot load the model"):
        Encoder(broken)
    with pytest.raises(EmbedModelError, match="cannot load the model"):
        Encoder(tmp_path)  # an empty directory


class _Settings:
    def __init__(self, **kw: Any) -> None:
        self.embed_model, self.embed_weight, self.embed_top_n, self.embed_threads = None, 0.3, 30, 1
        self.__dict__.update(kw)


def test_without_a_model_search_is_exactly_the_lexical_one(tiny_model: Path, encoder: Encoder) -> None:
    assert from_settings(_Settings()) is None
    docs, analyzer = seed_docs(), Analyzer()
    plain = KbIndex(docs, analyzer)
    off = KbIndex(docs, analyzer, dense=Dense(encoder, weight=0.0))
    for q in ("护士证过期了咋整", "出生证丢了", "放射许可找谁批"):
        assert np.array_equal(plain.scores(q), plain.lexical_scores(q))
        assert plain.search(q, 5) == off.search(q, 5)
    with pytest.raises(EmbedModelError, match="WEIJIAN_EMBED_WEIGHT"):
        from_settings(_Settings(embed_model=tiny_model, embed_weight=1.5))


def test_fusion_moves_entries_the_way_the_dense_scores_say(encoder: Encoder) -> None:
    docs, tokens = seed_docs(), Tokens(Analyzer())
    dense = Dense(encoder, weight=0.5, top_n=10)

    def index_with(weight: float) -> KbIndex:  # same analysed texts and embeddings, another fusion weight
        other = copy.copy(dense)
        other.weight = weight
        return KbIndex(docs, tokens.analyzer, tokens=tokens, dense=other)

    index = index_with(0.5)
    checked = 0
    for q in ("护士注册要多久", "卫生许可证延续材料", "医师变更注册", "出生医学证明补发", "特别扶助金"):
        lexical = index.lexical_scores(q)
        top = np.argsort(-lexical, kind="stable")[:10]
        top = top[lexical[top] > 0]  # only entries the lexical channels found are re-ranked
        cos = index.dense_similarity(q, top)
        fused = index.rerank(q, lexical)
        # The documented rule, entry by entry.
        assert np.allclose(fused[top], 0.5 * lexical[top] + 0.5 * np.maximum(cos, 0))
        rest = np.setdiff1d(np.arange(len(docs)), top)
        assert np.allclose(fused[rest], 0.5 * lexical[rest])
        # The lexical winner L against the candidate D the encoder likes best: pick a weight that must flip them.
        lead, best = top[0], top[int(np.argmax(cos))]
        gap_lex, gap_cos = lexical[lead] - lexical[best], float(cos.max() - cos[0])
        if best == lead or gap_cos <= 1e-6 or gap_lex <= 1e-6:
            continue
        flip = gap_lex / (gap_lex + gap_cos)  # above this weight D outranks L, below it L stays first
        above, below = index_with(min(1.0, flip + 0.05)), index_with(max(0.0, flip - 0.05))
        s_above, s_below = above.scores(q), below.scores(q)
        assert s_above[best] > s_above[lead]
        assert s_below[best] < s_below[lead]
        keys_above = [h.key for h in above.search(q, 10)]
        assert keys_above.index(docs[best].key) < keys_above.index(docs[lead].key)
        checked += 1
    assert checked >= 2  # the case is built so that it can fail: lexical and dense disagree on these queries


def _counting(encoder: Encoder, calls: list[list[str]]) -> Encoder:
    """The same encoder, noting the texts of every call to ``encode``."""

    class Counting(Encoder):
        def __init__(self) -> None:
            self.__dict__.update(encoder.__dict__)

        def encode(self, texts: Any) -> np.ndarray:
            calls.append(list(texts))
            return super().encode(texts)

    return Counting()


def test_a_rebuild_after_publish_embeds_only_the_new_texts(encoder: Encoder) -> None:
    calls: list[list[str]] = []
    dense, docs, analyzer = Dense(_counting(encoder, calls)), seed_docs(), Analyzer()
    KbIndex(docs, analyzer, dense=dense)
    first = len(dense.vectors)
    assert first == len({t for d in docs for t in (d.question, *d.similar)})
    calls.clear()
    new = Doc("faq-9001", "核酸检测机构备案怎么办理？", ("做核酸的机构要去哪备案",), "向区卫生健康局备案。")
    index = KbIndex([*docs, new], analyzer, dense=dense)
    assert calls == [[new.question, *new.similar]]  # one batch, only what the publish added
    rows = index.dense_rows[index._starts[-1] :]
    assert np.allclose(rows, encoder.encode([new.question, *new.similar]), atol=1e-6)
    assert len(dense.vectors) == first + 2
    dense.vectors.retain([new.question])  # what the runtime does after a build: only served texts stay cached
    assert len(dense.vectors) == 1


def test_a_long_message_and_its_last_clauses_go_to_the_encoder_in_one_call(encoder: Encoder) -> None:
    calls: list[list[str]] = []
    index = KbIndex(seed_docs(), Analyzer(), dense=Dense(_counting(encoder, calls)))
    calls.clear()
    message = "我在湖南注册的医师，现在调到深圳的医院上班，要不要重新注册"
    index.search(message, 3)
    # (as normalised: NFKC makes the full-width comma ASCII)
    assert calls == [[normalize(message), normalize("现在调到深圳的医院上班，要不要重新注册")]]
    index.search(message, 3)  # asked again: both from the cache
    index.search("医师注册要多久", 3)  # a short question: one text
    assert calls[1:] == [["医师注册要多久"]]


async def test_the_app_loads_the_model_from_settings_and_publish_reaches_the_dense_index(
    settings: Any, tiny_model: Path
) -> None:
    from mobile_api.app import create_app
    from tests.conftest import DYNAMIC_TABLES

    with pytest.raises(EmbedModelError, match="not a directory"):
        create_app(settings.model_copy(update={"embed_model": tiny_model / "nope"}))

    app = create_app(settings.model_copy(update={"embed_model": tiny_model, "embed_weight": 0.4}))
    async with app.state.engine.begin() as conn:
        for table in DYNAMIC_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
    import httpx

    try:
        kb = app.state.consult.kb
        await app.state.consult.warm()
        assert kb.dense is not None and kb.index.dense_rows.shape[1] == 32
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            api = Api(client, app)
            before = kb.index.dense_rows.shape[0]
            r = await client.post(
                f"{KB}/entries",
                json={
                    "question": "核酸检测机构备案怎么办理？",
                    "similar": ["做核酸的机构要去哪备案"],
                    "answer": "示例。",
                },
                headers=await api.staff("zixun"),
            )
            key = r.json()["id"]
            await client.post(f"{KB}/entries/{key}/submit", headers=await api.staff("zixun"))
            r = await client.post(f"{KB}/entries/{key}/publish", headers=await api.staff("zixunzz"))
            assert r.status_code == 200, r.text
            found = (await client.get(f"{KB}/search", params={"q": "核酸检测机构备案"})).json()["results"]
            assert found[0]["id"] == key
            assert kb.index.dense_rows.shape[0] == before + 2  # rebuilt on publish, no restart
            i = [d.key for d in kb.index.docs].index(key)
            lexical = kb.index.lexical_scores("核酸检测机构备案")
            cos = kb.index.dense_similarity("核酸检测机构备案", np.array([i]))[0]
            assert found[0]["score"] == pytest.approx(0.6 * lexical[i] + 0.4 * max(cos, 0.0), abs=1e-4)
    finally:
        await app.state.weijian.push.close()
        if app.state.weijian.reads is not None:
            await app.state.weijian.reads.close()
        await app.state.engine.dispose()
