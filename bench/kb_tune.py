"""``python -m bench.kb_tune``: choose the lexical fusion weights on the DEV half of bench/kb_eval_v2.yaml only.

Each channel's scores do not depend on the weights, so they are computed once per question and every weight
combination (steps of ``--step``, summing to 1) is a weighted sum: the whole grid takes seconds. Prints the best
combinations by dev top-1 (then top-3, then the mean margin of the right entry) with their v1 top-1, and the
current weights' figures. The held-out ``test`` half is never read here.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import fields

import numpy as np

from bench.kb import analyzer, eval_sets, seed_docs
from knowledge_base.index import WEIGHTS, KbIndex, Weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    docs = seed_docs()
    sets = eval_sets()
    index = KbIndex(docs, analyzer())
    keys = [d.key for d in docs]
    names = [f.name for f in fields(Weights)]

    def prepare(qs: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """(channels × questions × entries) scores and the right entry of each question."""
        per_q = [index.channel_scores(x["q"]) for x in qs]
        return np.stack([np.stack([s[n] for s in per_q]) for n in names]), np.array([keys.index(x["id"]) for x in qs])

    dev_data, v1_data = prepare(sets["v2_dev"]), prepare(sets["v1"])  # never sets["v2_test"]
    dev = sets["v2_dev"]

    def evaluate(w: np.ndarray, data: tuple[np.ndarray, np.ndarray] = dev_data) -> tuple[float, float, float]:
        channels, want = data
        fused = np.tensordot(w, channels, axes=1)
        rows = np.arange(len(want))
        right = fused[rows, want]
        better = (fused > right[:, None]).sum(1)  # ties count for the right entry (the bench breaks them by key)
        other = fused.copy()
        other[rows, want] = -1
        return float((better == 0).mean()), float((better < 3).mean()), float((right - other.max(1)).mean())

    steps = round(1 / args.step)
    results = []
    for combo in itertools.product(range(steps + 1), repeat=len(names) - 1):
        rest = steps - sum(combo)
        if rest < 0:
            continue
        w = np.array([*combo, rest], dtype=float) / steps
        results.append((evaluate(w), tuple(np.round(w, 3))))
    results.sort(reverse=True)
    print(f"dev questions: {len(dev)}; channels: {names}")
    current = np.array([getattr(WEIGHTS, n) for n in names])
    t1, t3, margin = evaluate(current)
    v1 = evaluate(current, v1_data)
    shown = tuple(float(x) for x in current)
    print(f"current {shown}: top-1 {t1:.1%} top-3 {t3:.1%} margin {margin:.3f}   v1 top-1 {v1[0]:.1%}")
    for (t1, t3, margin), w in results[: args.top]:
        v1 = evaluate(np.array(w), v1_data)
        print(f"{tuple(float(x) for x in w)}: top-1 {t1:.1%} top-3 {t3:.1%} margin {margin:.3f}   v1 top-1 {v1[0]:.1%}")


if __name__ == "__main__":
    main()
