"""``python -m bench.verdict RUN.json RUN.json RUN.json``: judge issue 2's speed goals over several full runs.

One full run of ``python -m bench`` swings from round to round (docs/benchmarks.md, session 4): a single run
can pass or miss a goal by chance. The acceptance protocol, fixed before the runs it judges, is: three
consecutive full runs of the same code on a quiet machine, each goal judged on the **median** of its per-run
values. This prints, per goal, every run's value, the median and the verdict; the exit status is 0 only when
every must passes on its median and all runs measured the same code.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def _passes(target: str, value: float) -> bool:
    """Targets are the strings the bench writes: "≥ 1.5×", "≥ 15%", "≤ 2.0×"."""
    op, number = target[0], target[1:].strip()
    limit = float(number.rstrip("×%")) / (100 if number.endswith("%") else 1)
    return value >= limit if op == "≥" else value <= limit


def judge(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    names = [g["name"] for g in runs[0]["goals"]]
    rows = []
    for name in names:
        goal = next(g for g in runs[0]["goals"] if g["name"] == name)
        values = [next(g["value"] for g in r["goals"] if g["name"] == name) for r in runs]
        median = statistics.median(values)
        rows.append({"name": name, "kind": goal["kind"], "target": goal["target"], "values": values,
                     "median": median, "ok": _passes(goal["target"], median)})  # fmt: skip
    same_code = len({r["code"]["sha256"] for r in runs} | {r["code_after"]["sha256"] for r in runs}) == 1
    passed = same_code and all(row["ok"] for row in rows if row["kind"] == "must")
    return rows, passed


def _fmt(target: str, value: float) -> str:
    return f"{value:.0%}" if target.endswith("%") else f"{value:.2f}×"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.verdict", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="results JSON of full runs (bench/results/*.json)")
    args = p.parse_args(argv)
    runs = [json.loads(path.read_text()) for path in args.runs]
    partial = [str(path) for path, r in zip(args.runs, runs, strict=True) if r["settings"].get("only")]
    if partial:
        print(f"not full runs: {', '.join(partial)}", file=sys.stderr)
        return 2
    if len({json.dumps(r["settings"], sort_keys=True) for r in runs}) > 1:
        print("the runs used different settings", file=sys.stderr)
        return 2
    rows, passed = judge(runs)
    print("| goal | kind | target | " + " | ".join(r["when"][11:16] for r in runs) + " | median | verdict |")
    print("|---|---|---|" + "---:|" * len(runs) + "---:|---|")
    for row in rows:
        cells = " | ".join(_fmt(row["target"], v) for v in row["values"])
        verdict = ("PASS" if row["ok"] else "FAIL") if row["kind"] == "must" else ("met" if row["ok"] else "not met")
        print(f"| {row['name']} | {row['kind']} | {row['target']} | {cells} | "
              f"{_fmt(row['target'], row['median'])} | {verdict} |")  # fmt: skip
    codes = sorted({r["code"]["sha256"] for r in runs} | {r["code_after"]["sha256"] for r in runs})
    loads = ", ".join(f"{r['machine']['loadavg_before'][0]:.2f}" for r in runs)
    print(f"\ncode: {', '.join(codes)} · load average (1 min) before each run: {loads}")
    print("verdict: " + ("PASS: every must holds on the median of the runs" if passed else "FAIL"))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
