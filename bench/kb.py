"""``python -m bench.kb``: knowledge-base retrieval quality and search latency, against plain BM25 in the same run.

Quality: bench/kb_eval.yaml (paraphrased, colloquial, typo-laden questions about the seed, none of them among
the entries' similar questions) → top-1 and top-3 of our index (jieba + user dictionary + synonyms, BM25 per
phrasing, character bigrams, answers weighted lower) and of plain BM25 (rank_bm25's BM25Okapi over jieba
tokens of each entry's question and similar questions, and a variant with the answer too).

Speed: the seed plus synthetic entries up to 10,000 (sentences re-assembled from the seed's own words, so the
postings are as dense as real ones), each eval question searched, p50/p95 of ``KnowledgeBase.search`` and of
rank_bm25's ``get_scores`` + sort on the same 10,000 entries.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import jieba
import numpy as np
import yaml
from rank_bm25 import BM25Okapi

from knowledge_base.index import Doc, KbIndex
from knowledge_base.text import Analyzer
from knowledge_base.yamlio import parse

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def seed_docs() -> list[Doc]:
    kb = parse((DATA / "kb" / "faq.yaml").read_text(encoding="utf-8"))
    return [Doc(e.key, e.question, tuple(e.similar), e.answer, e.item_code) for e in kb.entries]


def analyzer() -> Analyzer:
    a = Analyzer()
    items = yaml.safe_load((DATA / "items.yaml").read_text(encoding="utf-8"))["items"]
    materials = yaml.safe_load((DATA / "materials.yaml").read_text(encoding="utf-8"))
    names = [m["name"] for m in (materials.get("materials") or materials.get("material_types") or [])]
    a.add_words([i["name"] for i in items] + names)
    a.set_synonyms(parse((DATA / "kb" / "synonyms.yaml").read_text(encoding="utf-8")).synonyms)
    return a


def eval_set() -> list[dict[str, str]]:
    return yaml.safe_load((ROOT / "bench" / "kb_eval.yaml").read_text(encoding="utf-8"))["questions"]


TYPO_SECTION_STARTS = 113  # the first 113 questions are colloquial paraphrases, the rest carry typing slips


class PlainBm25:
    def __init__(self, docs: list[Doc], with_answer: bool) -> None:
        self.keys = [d.key for d in docs]
        corpus = [jieba.lcut(" ".join([d.question, *d.similar] + ([d.answer] if with_answer else []))) for d in docs]
        self.bm25 = BM25Okapi(corpus)

    def search(self, q: str, k: int) -> list[str]:
        scores = self.bm25.get_scores(jieba.lcut(q))
        return [self.keys[i] for i in np.argsort(-scores)[:k]]


def accuracy(search: Any, questions: list[dict[str, str]]) -> dict[str, Any]:
    top1 = top3 = 0
    misses = []
    for x in questions:
        got = search(x["q"], 3)
        top1 += bool(got) and got[0] == x["id"]
        top3 += x["id"] in got
        if not got or got[0] != x["id"]:
            misses.append({"q": x["q"], "want": x["id"], "got": got[:3]})
    n = len(questions)
    return {"top1": round(top1 / n, 4), "top3": round(top3 / n, 4), "n": n, "misses": misses}


def synthetic(docs: list[Doc], total: int, rng: random.Random) -> list[Doc]:
    q_words = [w for d in docs for q in (d.question, *d.similar) for w in jieba.lcut(q)]
    a_words = [w for d in docs for w in jieba.lcut(d.answer)]
    out = list(docs)
    for i in range(total - len(docs)):

        def sentence(words: list[str], lo: int, hi: int) -> str:
            return "".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

        out.append(
            Doc(
                f"syn-{i:05d}",
                sentence(q_words, 5, 14),
                tuple(sentence(q_words, 5, 14) for _ in range(3)),
                sentence(a_words, 60, 160),
            )
        )
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s) * 1000, 2),
        "p95_ms": round(s[int(len(s) * 0.95) - 1] * 1000, 2),
        "max_ms": round(s[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the eval questions for timing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    docs, questions = seed_docs(), eval_set()
    a = analyzer()

    ours = KbIndex(docs, a)
    plain_q = PlainBm25(docs, with_answer=False)
    plain_qa = PlainBm25(docs, with_answer=True)
    result: dict[str, Any] = {
        "quality": {
            "ours": accuracy(lambda q, k: [h.key for h in ours.search(q, k)], questions),
            "plain_bm25_questions": accuracy(plain_q.search, questions),
            "plain_bm25_questions_answers": accuracy(plain_qa.search, questions),
        }
    }
    for name, part in (("paraphrases", questions[:TYPO_SECTION_STARTS]), ("typos", questions[TYPO_SECTION_STARTS:])):
        result["quality"][f"ours_{name}"] = accuracy(lambda q, k: [h.key for h in ours.search(q, k)], part)
        result["quality"][f"plain_bm25_questions_{name}"] = accuracy(plain_q.search, part)
    best_plain = max(
        result["quality"]["plain_bm25_questions"]["top1"], result["quality"]["plain_bm25_questions_answers"]["top1"]
    )
    result["quality"]["top1_gain_points"] = round((result["quality"]["ours"]["top1"] - best_plain) * 100, 1)

    rng = random.Random(7)
    big = synthetic(docs, args.entries, rng)
    t = time.perf_counter()
    big_index = KbIndex(big, a)
    build_s = time.perf_counter() - t
    big_plain = PlainBm25(big, with_answer=False)
    ours_t: list[float] = []
    plain_t: list[float] = []
    for _ in range(args.rounds):
        for x in questions:
            t0 = time.perf_counter()
            big_index.search(x["q"], 5)
            ours_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            big_plain.search(x["q"], 5)
            plain_t.append(time.perf_counter() - t0)
    result["speed"] = {
        "entries": len(big),
        "index_build_s": round(build_s, 2),
        "searches": len(ours_t),
        "ours": percentiles(ours_t),
        "plain_bm25": percentiles(plain_t),
        "quality_with_distractors": {
            k: v
            for k, v in accuracy(lambda q, k: [h.key for h in big_index.search(q, k)], questions).items()
            if k != "misses"
        },
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    q = result["quality"]
    print(f"eval questions: {q['ours']['n']}")
    for name in (
        "ours",
        "plain_bm25_questions",
        "plain_bm25_questions_answers",
        "ours_paraphrases",
        "plain_bm25_questions_paraphrases",
        "ours_typos",
        "plain_bm25_questions_typos",
    ):
        print(f"  {name:<34} top-1 {q[name]['top1']:.1%}  top-3 {q[name]['top3']:.1%}")
    print(f"  top-1 gain over the better plain BM25: {q['top1_gain_points']} points")
    sp = result["speed"]
    print(f"search over {sp['entries']} entries ({sp['searches']} searches, index built in {sp['index_build_s']} s):")
    print(f"  ours       p50 {sp['ours']['p50_ms']} ms  p95 {sp['ours']['p95_ms']} ms")
    print(f"  plain BM25 p50 {sp['plain_bm25']['p50_ms']} ms  p95 {sp['plain_bm25']['p95_ms']} ms")
    print(f"  ours with 10k distractors: top-1 {sp['quality_with_distractors']['top1']:.1%}")
    print("misses (ours):")
    for m in q["ours"]["misses"]:
        print(f"  {m['q']}  want {m['want']}  got {m['got']}")


if __name__ == "__main__":
    main()
