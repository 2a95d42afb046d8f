"""``python -m bench.kb_tune``: choose the lexical fusion weights on the tuning sets only: the DEV half of
bench/kb_eval_v2.yaml and bench/kb_eval_v3.yaml (pooled, 262 questions); v1 is shown beside.

Each channel's scores do not depend on the weights, so they are computed once per question and every weight
combination (steps of ``--step``, summing to 1) is a weighted sum: the whole grid takes seconds to a minute.
Prints the best combinations by pooled tuning top-1 (then top-3, then the mean margin of the right entry) with
dev, v3 and v1 top-1, and the current weights' figures. The held-out ``test`` half is never read here.
"""

from __future__ import annotations

import argparse
import itertools
import random
from dataclasses import fields

import numpy as np

from bench.kb import analyzer, eval_sets, item_names, seed_docs, synthetic
from knowledge_base.index import WEIGHTS, KbIndex, Weights

Data = tuple[np.ndarray, np.ndarray]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--fix", action="append", default=[], help="channel=weight kept fixed, e.g. words_best=0")
    parser.add_argument(
        "--distractors", type=int, default=0, help="also show pooled top-1 among this many entries (synthetic added)"
    )
    args = parser.parse_args()
    docs = seed_docs()
    sets = eval_sets(held_out=False)  # never the held-out v2 test half
    index = KbIndex(docs, analyzer(), item_names=item_names())
    keys = [d.key for d in docs]
    names = [f.name for f in fields(Weights)]
    fixed = {k: float(v) for k, v in (f.split("=") for f in args.fix)}
    free = [n for n in names if n not in fixed]

    def prepare(qs: list[dict[str, str]]) -> Data:
        """(channels × questions × entries) scores and the right entry of each question."""
        per_q = [index.channel_scores(x["q"]) for x in qs]
        return np.stack([np.stack([s[n] for s in per_q]) for n in names]), np.array([keys.index(x["id"]) for x in qs])

    data = {name: prepare(qs) for name, qs in sets.items()}
    pooled: Data = (
        np.concatenate([data["v2_dev"][0], data["v3"][0]], axis=1),
        np.concatenate([data["v2_dev"][1], data["v3"][1]]),
    )

    def evaluate(w: np.ndarray, d: Data = pooled) -> tuple[float, float, float]:
        channels, want = d
        fused = np.tensordot(w, channels, axes=1)
        rows = np.arange(len(want))
        right = fused[rows, want]
        better = (fused > right[:, None]).sum(1)  # ties count for the right entry (the bench breaks them by key)
        other = fused.copy()
        other[rows, want] = -1
        return float((better == 0).mean()), float((better < 3).mean()), float((right - other.max(1)).mean())

    big_data: Data | None = None
    if args.distractors:  # the same questions among synthetic entries re-assembled from the seed's words
        a = analyzer()
        big = KbIndex(synthetic(docs, args.distractors, random.Random(7)), a, item_names=item_names())
        qs = sets["v2_dev"] + sets["v3"]
        per_q = [big.channel_scores(x["q"]) for x in qs]
        big_data = (
            np.stack([np.stack([s[n] for s in per_q]) for n in names]),
            np.array([keys.index(x["id"]) for x in qs]),
        )

    def show(label: str, w: np.ndarray) -> None:
        t1, t3, margin = evaluate(w)
        per = "  ".join(f"{n} {evaluate(w, data[n])[0]:.1%}" for n in ("v2_dev", "v3", "v1"))
        extra = f"  with distractors {evaluate(w, big_data)[0]:.1%}" if big_data is not None else ""
        print(f"{label}: tune top-1 {t1:.1%} top-3 {t3:.1%} margin {margin:.3f}   {per}{extra}")

    budget = 1 - sum(fixed.values())
    steps = round(budget / args.step)
    results = []
    for combo in itertools.product(range(steps + 1), repeat=len(free) - 1):
        rest = steps - sum(combo)
        if rest < 0:
            continue
        parts = dict(zip(free, np.array([*combo, rest], dtype=float) * args.step, strict=True))
        w = np.array([fixed.get(n, parts.get(n, 0.0)) for n in names])
        results.append((evaluate(w), tuple(np.round(w, 3))))
    results.sort(reverse=True)
    print(f"tuning questions: {len(pooled[1])} (v2 dev + v3); channels: {names}")
    show(f"current {tuple(float(getattr(WEIGHTS, n)) for n in names)}", np.array([getattr(WEIGHTS, n) for n in names]))
    for _, w in results[: args.top]:
        show(str(tuple(float(x) for x in w)), np.array(w))


if __name__ == "__main__":
    main()
