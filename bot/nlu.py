"""Intent classification and entity extraction, trained from bot/data/nlu.yml.

The classifier is scikit-learn: TF-IDF over character 1–2-grams (robust to typos and to jieba's segmentation
choices) joined with TF-IDF over jieba words, into a linear model trained by SGD on the logistic loss (as
accurate as lbfgs logistic regression on this data in cross-validation, and a hundred times faster
to fit).

Entities: serial numbers by the training data's regex (their check character verified by case_core),
service items by the lookup table plus the catalogue's item names, longest match first, mapped to item codes
through the synonym blocks.

``parse`` returns Rasa's parse shape: ``{text, intent: {name, confidence}, entities: [...], intent_ranking}``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jieba
import numpy as np
from sklearn import config_context
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from bot.training import TrainingData, load_nlu
from case_core.domain import serial
from knowledge_base.text import normalize

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_THRESHOLD = 0.3
SERIAL_PLACEHOLDER = " 流水号 "
RANKING_CACHE = 4096  # prepared texts whose intent ranking is kept


def _jieba_words(text: str) -> list[str]:
    return [w for w in jieba.lcut(text) if w.strip()]


def make_pipeline() -> Pipeline:
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True)),
            ("words", TfidfVectorizer(tokenizer=_jieba_words, token_pattern=None, lowercase=False, sublinear_tf=True)),
        ]
    )
    clf = SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=200, tol=1e-4, random_state=0)
    return Pipeline([("features", features), ("clf", clf)])


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int
    text: str
    extractor: str

    def as_rasa(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "confidence_entity": 1.0,
            "extractor": self.extractor,
        }


class EntityExtractor:
    def __init__(self, data: TrainingData, item_names: dict[str, str] | None = None) -> None:
        self.serial_patterns = [re.compile(p, re.IGNORECASE) for p in data.regexes.get("serial_no", [])]
        self.synonyms = dict(data.synonyms)
        names = set(data.lookups.get("service_item", []))
        for code, name in (item_names or {}).items():
            names.add(name)
            self.synonyms.setdefault(name, code)
            base = re.split(r"[（(]", name)[0]
            if len(base) >= 4:
                names.add(base)
                self.synonyms.setdefault(base, code)
        self.item_pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))

    def extract(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for pattern in self.serial_patterns:
            for m in pattern.finditer(text):
                found.append(
                    Entity(
                        "serial_no",
                        serial.normalize(m.group(0)),
                        m.start(),
                        m.end(),
                        m.group(0),
                        "RegexEntityExtractor",
                    )
                )
        for m in self.item_pattern.finditer(text):
            found.append(
                Entity(
                    "service_item",
                    self.synonyms.get(m.group(0), m.group(0)),
                    m.start(),
                    m.end(),
                    m.group(0),
                    "LookupEntityExtractor",
                )
            )
        return found


class _Features:
    """A fitted TfidfVectorizer's transform for one text, without scikit-learn's per-call machinery (input
    validation, a sparse matrix per call): the vectorizer's own analyzer, vocabulary and idf, sublinear tf and the
    l2 norm exactly as TfidfTransformer applies them. ``features`` returns the column indices and weights."""

    def __init__(self, vectorizer: TfidfVectorizer, offset: int) -> None:
        if vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise ValueError("only l2-normalised tf-idf is supported")
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = {t: int(i) + offset for t, i in vectorizer.vocabulary_.items()}
        self.idf = np.zeros(offset + len(self.vocabulary))
        self.idf[offset:] = vectorizer.idf_
        self.sublinear = bool(vectorizer.sublinear_tf)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocabulary
        counts = Counter(vocab[t] for t in self.analyze(text) if t in vocab)
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.sublinear:
            tf = np.log(tf) + 1.0
        w = tf * self.idf[idx]
        norm = math.sqrt(float(w @ w))
        return idx, (w / norm if norm > 0 else w)


class Nlu:
    def __init__(self, data: TrainingData | None = None, item_names: dict[str, str] | None = None) -> None:
        self.data = data or load_nlu()
        self.entities = EntityExtractor(self.data, item_names)
        self.pipeline = make_pipeline()
        texts = [self.prepare(e.text) for e in self.data.examples]
        self.pipeline.fit(texts, [e.intent for e in self.data.examples])
        self.intents: list[str] = [str(c) for c in self.pipeline.classes_]
        # The fitted model, unpacked for one-text inference (see predict_proba).
        offset, self._features = 0, []
        for _, vectorizer in self.pipeline.named_steps["features"].transformer_list:
            self._features.append(_Features(vectorizer, offset))
            offset += len(vectorizer.vocabulary_)
        clf = self.pipeline.named_steps["clf"]
        if clf.loss != "log_loss" or len(self.intents) < 3:
            raise ValueError("the fast path reproduces one-vs-rest logistic probabilities of 3+ classes")
        self._coef_t = np.ascontiguousarray(clf.coef_.T)  # (features, classes): rows picked per text
        self._intercept = clf.intercept_.copy()
        self._ranking = lru_cache(maxsize=RANKING_CACHE)(self._rank)

    def prepare(self, text: str) -> str:
        """What the classifier sees: normalised, with serial numbers replaced by one word (their digits say
        nothing about the intent)."""
        text = normalize(text)
        for p in self.entities.serial_patterns:
            text = p.sub(SERIAL_PLACEHOLDER, text)
        return text

    def predict_proba(self, prepared: str) -> np.ndarray:
        """The pipeline's predict_proba for one text, computed directly from the fitted vocabularies and weights
        (the same numbers; tests/consult/test_nlu.py checks it against scikit-learn). Through scikit-learn's
        transform this was 9 ms a turn, here it is a few hundred microseconds."""
        parts = [f.features(prepared) for f in self._features]
        idx = np.concatenate([p[0] for p in parts])
        w = np.concatenate([p[1] for p in parts])
        decision = w @ self._coef_t[idx] + self._intercept
        prob = 1.0 / (1.0 + np.exp(-decision))  # SGDClassifier(log_loss): one-vs-rest logistic, normalised
        total = prob.sum()
        return prob / total if total > 0 else np.full_like(prob, 1.0 / len(prob))

    def predict_proba_sklearn(self, prepared: str) -> np.ndarray:
        """The reference: scikit-learn's own pipeline (for tests and evaluation)."""
        with config_context(assume_finite=True, skip_parameter_validation=True):
            return self.pipeline.predict_proba([prepared])[0]

    def _rank(self, prepared: str) -> tuple[tuple[str, float], ...]:
        """The intent ranking of a prepared text; cached (greetings, thanks, "转人工" and the hundred common
        questions come again and again, and the same normalised text always ranks the same)."""
        if not re.search(r"[0-9a-z\u4e00-\u9fff]", prepared):
            return ((FALLBACK_INTENT, 1.0),)
        probs = self.predict_proba(prepared)
        order = np.argsort(-probs, kind="stable")[:10]
        ranking = [(self.intents[i], round(float(probs[i]), 4)) for i in order]
        top = float(probs[order[0]])
        if top < FALLBACK_THRESHOLD:
            ranking.insert(0, (FALLBACK_INTENT, round(1 - top, 4)))
        return tuple(ranking)

    def parse(self, text: str) -> dict[str, Any]:
        text = text[:1000]
        ranking = [{"name": name, "confidence": conf} for name, conf in self._ranking(self.prepare(text))]
        return {
            "text": text,
            "intent": dict(ranking[0]),
            "entities": [e.as_rasa() for e in self.entities.extract(text)],
            "intent_ranking": ranking,
        }
