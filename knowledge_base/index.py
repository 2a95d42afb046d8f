"""The retrieval index: BM25 over an entry's questions (each phrasing its own row, the best one counts), over
character bigrams of the same rows (typos), and over the answer (weighted lower), fused into one score in 0..1.

BM25 term weights do not depend on the query, so each channel is a sparse matrix (rows × terms) of precomputed
weights and a query is the sum of a few columns: a search over 10,000 entries is a handful of NumPy operations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge_base.text import Analyzer, char_bigrams

K1, B = 1.2, 0.75
# Fusion weights, chosen on bench/ (see docs/benchmarks.md): words decide, bigrams rescue typos, the answer helps
# only a little (it mentions many things the question is not about).
W_WORDS, W_CHARS, W_ANSWER = 0.55, 0.35, 0.10


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
        data: list[float] = []
        indices: list[int] = []
        indptr = [0]
        lengths = np.array([len(r) for r in rows], dtype=np.float64)
        avgdl = float(lengths.mean()) if len(rows) and lengths.mean() > 0 else 1.0
        counts = [Counter(r) for r in rows]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        n = max(len(rows), 1)
        for term in df:
            vocab[term] = len(vocab)
        self.idf = np.array(
            [np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in vocab], dtype=np.float64
        ) if vocab else np.zeros(0)
        self.max_idf = float(np.log(1 + (n + 0.5) / 0.5))
        for i, c in enumerate(counts):
            norm = K1 * (1 - B + B * lengths[i] / avgdl)
            for term, tf in c.items():
                j = vocab[term]
                indices.append(j)
                data.append(self.idf[j] * tf * (K1 + 1) / (tf + norm))
            indptr.append(len(indices))
        self.vocab = vocab
        self.matrix = sparse.csr_matrix(
            (np.array(data), np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)),
            shape=(len(rows), len(vocab)),
        ).tocsc()

    def score(self, terms: list[str]) -> np.ndarray:
        unique = list(dict.fromkeys(terms))
        cols = [self.vocab[t] for t in unique if t in self.vocab]
        attainable = sum(self.idf[self.vocab[t]] if t in self.vocab else self.max_idf for t in unique)
        if not cols or attainable <= 0:
            return np.zeros(self.matrix.shape[0])
        raw = np.asarray(self.matrix[:, cols].sum(axis=1)).ravel()
        return np.minimum(raw / attainable, 1.0)


class KbIndex:
    """Immutable once built; the runtime swaps in a new one on publish."""

    def __init__(self, docs: Sequence[Doc], analyzer: Analyzer, generation: object = None) -> None:
        self.docs = list(docs)
        self.analyzer = analyzer
        self.generation = generation
        self.by_key = {d.key: d for d in self.docs}
        question_rows: list[str] = []
        owner: list[int] = []
        for i, d in enumerate(self.docs):
            for q in (d.question, *d.similar):
                question_rows.append(q)
                owner.append(i)
        self._owner = np.array(owner, dtype=np.int64)
        # Rows are grouped by entry, so the best phrasing per entry is one maximum.reduceat.
        self._starts = np.flatnonzero(np.r_[True, self._owner[1:] != self._owner[:-1]]) if owner else np.zeros(0, int)
        self._words = _Channel([analyzer.words(q) for q in question_rows])
        self._chars = _Channel([char_bigrams(analyzer.canonical_text(q)) for q in question_rows])
        self._answers = _Channel([analyzer.words(d.answer) for d in self.docs])

    def __len__(self) -> int:
        return len(self.docs)

    def scores(self, query: str) -> np.ndarray:
        """Fused score of every entry for ``query`` (0..1)."""
        if not self.docs:
            return np.zeros(0)
        words = self.analyzer.words(query)
        chars = char_bigrams(self.analyzer.canonical_text(query))
        per_row = W_WORDS * self._words.score(words) + W_CHARS * self._chars.score(chars)
        best = np.maximum.reduceat(per_row, self._starts)
        return best + W_ANSWER * self._answers.score(words)

    def search(self, query: str, k: int = 5, accept: Callable[[Doc], bool] | None = None) -> list[Hit]:
        scores = self.scores(query)
        if not len(scores):
            return []
        k = max(1, min(k, len(scores)))
        order = np.argsort(-scores, kind="stable")
        hits: list[Hit] = []
        for i in order:
            if scores[i] <= 0 or len(hits) >= k:
                break
            d = self.docs[int(i)]
            if accept is None or accept(d):
                hits.append(Hit(d.key, d.question, round(float(scores[i]), 4), d.item_code))
        return hits
