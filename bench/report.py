"""Ratios, goals and the Markdown table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BARE, ORM = "bare", "orm-one-row"

# Goals from the issue, each against a baseline measured in the same run.
#   must: case detail and the staff task list >= 1.5x the one-row sync-ORM read; submit >= 15% of bare;
#         the 500-event detail no worse than 2x the 5-event one.
#   aim:  case detail and the staff task list at 40% of bare.
MIN_X_ORM = 1.5
AIM_OF_BARE = 0.40
SUBMIT_OF_BARE = 0.15
LONG_CASE_MAX = 2.0


@dataclass(frozen=True)
class Goal:
    name: str
    kind: str  # "must" or "aim"
    target: str
    value: float
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "value": round(self.value, 3),
            "ok": self.ok,
        }


def goals(rps: dict[str, float], p50: dict[str, float]) -> list[Goal]:
    """The issue's goals ("must", "aim"), and the same yardsticks applied to the bench-only prototype of the
    detail ("context": not a goal, it shows what another design gets on the same machine in the same run)."""
    out: list[Goal] = []
    bare, orm = rps.get(BARE), rps.get(ORM)
    if not bare or not orm:
        return out

    def add(name: str, kind: str, target: str, value: float, ok: bool) -> None:
        out.append(Goal(name, kind, target, value, ok))

    for prefix, kind in (("", "must"), ("proto-", "context")):
        for name in (prefix + n for n in ("detail-5", "detail-500", "tasks-todo", "tasks-finished")):
            if name in rps:
                x = rps[name] / orm
                add(f"{name} ≥ {MIN_X_ORM}× sync-ORM one-row", kind, f"≥ {MIN_X_ORM}×", x, x >= MIN_X_ORM)
        for name in (prefix + n for n in ("detail-5", "detail-500", "tasks-todo", "tasks-finished")):
            if name in rps:
                x = rps[name] / bare
                add(f"{name} at {AIM_OF_BARE:.0%} of bare", "aim" if kind == "must" else kind,
                    f"≥ {AIM_OF_BARE:.0%}", x, x >= AIM_OF_BARE)  # fmt: skip
        if kind == "must" and "submit" in rps:
            x = rps["submit"] / bare
            add(f"submit ≥ {SUBMIT_OF_BARE:.0%} of bare", kind, f"≥ {SUBMIT_OF_BARE:.0%}", x, x >= SUBMIT_OF_BARE)
        short, long = prefix + "detail-5", prefix + "detail-500"
        if short in rps and long in rps:
            x = rps[short] / rps[long]
            add(f"{prefix}detail time, 500 events vs 5 (throughput ratio)", kind, f"≤ {LONG_CASE_MAX}×", x,
                x <= LONG_CASE_MAX)  # fmt: skip
            if p50.get(short):
                y = p50[long] / p50[short]
                add(f"{prefix}detail time, 500 events vs 5 (p50 latency ratio)", kind, f"≤ {LONG_CASE_MAX}×", y,
                    y <= LONG_CASE_MAX)  # fmt: skip
    return out


def _ms(us: float) -> str:
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us / 1000:.2f} ms"


def table(rows: list[dict[str, Any]]) -> str:
    rps = {r["name"]: r["rps"] for r in rows}
    bare, orm = rps.get(BARE), rps.get(ORM)
    out = [
        "| endpoint | req/s | p50 | p99 | × bare | × sync-ORM one-row | errors | other load | new PG conns "
        "| req/s of each round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        x_bare = f"{r['rps'] / bare:.2f}" if bare else "–"
        x_orm = f"{r['rps'] / orm:.2f}" if orm else "–"
        rounds = " / ".join(f"{x:,}" for x in r.get("all_rounds_rps", []))
        out.append(
            f"| {r['name']} (`{r['path']}`) | {r['rps']:,.0f} | {_ms(r['p50_us'])} | {_ms(r['p99_us'])} | "
            f"{x_bare} | {x_orm} | {r['error_total']} | {r.get('foreign_cpu', 0):.0%} | "
            f"{r['extra'].get('new_pg_connections', '–')} | {rounds} |"
        )
    return "\n".join(out)


def submit_check(row: dict[str, Any]) -> str:
    x = row["extra"]
    return (
        f"submit check (best round): {x['sent']:,} requests sent, each to a draft of its own, {x['ok_2xx']:,} "
        f"answered 2xx, {x['not_2xx']} non-2xx, {x['unanswered']} unanswered when wrk stopped; "
        f"{x['submitted_in_db']:,} of the {x['drafts_available']:,} drafts of the run are submitted in the database "
        f"(must equal the 2xx) → **{'OK' if x['verified'] else 'FAILED'}**"
    )


def code_line(result: dict[str, Any]) -> str:
    code, after = result.get("code"), result.get("code_after")
    if not code:
        return ""
    line = (f"Code measured (as loaded by the server, which does not reload): the sources of case_core, mobile_api "
            f"and migrations hash to `{code['sha256']}` ({code['files']} files; newest change "
            f"{code['newest_mtime']}, {code['newest']}).")  # fmt: skip
    if after and after["sha256"] != code["sha256"]:
        line += (f" They have changed since (now `{after['sha256']}`, {after['newest']} at {after['newest_mtime']}): "
                 "rerun to measure the current code.")  # fmt: skip
    return line


def markdown(result: dict[str, Any]) -> str:
    from bench import pyspy

    m, s, best = result["machine"], result["settings"], result["best"]
    out = [
        f"## Results ({result['when']})",
        "",
        f"{m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, {m['os']}, Python {m['python']}, PostgreSQL "
        f"{m['postgresql']}, {m['wrk']}. wrk -t{s['threads']} -c{s['connections']} -d{s['duration']:g}s after "
        f"{s['warmup']:g}s warm-up, best of {s['rounds']} rounds; uvicorn {s['workers']} workers "
        f'(`{" ".join(result["uvicorn"])}`); wrk, uvicorn and PostgreSQL share the machine. "other load": CPU '
        "used by processes outside the benchmark during the run, as a share of the machine.",
        "",
        code_line(result),
        "",
        table(best),
    ]
    pg = result.get("pgbench")
    if pg and pg.get("tps"):
        out += [
            "",
            f"PostgreSQL alone (`pgbench {pg['command']}`, scale 1, uvicorn stopped): "
            f"{pg['tps']:,.0f} one-row reads/s, average latency {pg['latency_avg_ms']} ms, other load "
            f"{pg.get('foreign_cpu', 0):.0%}.",
        ]
    sub = next((r for r in best if r["name"] == "submit"), None)
    if sub:
        out += ["", submit_check(sub)]
    gs = [Goal(**{k: v for k, v in g.items()}) for g in result["goals"]]
    out += ["", goals_table(gs)]
    for name, summary in result.get("profiles", {}).items():
        if summary:
            out += ["", f"### py-spy: {name} (GIL-holding samples of both workers)", "", pyspy.markdown(summary)]
    return "\n".join(out)


def goals_table(gs: list[Goal]) -> str:
    out = ["| goal | kind | target | measured | result |", "|---|---|---|---:|---|"]
    for g in gs:
        shown = f"{g.value:.0%}" if "%" in g.target else f"{g.value:.2f}×"
        verdict = ("PASS" if g.ok else "FAIL") if g.kind == "must" else ("met" if g.ok else "not met")
        verdict = f"**{verdict}**" if g.kind != "context" else verdict
        out.append(f"| {g.name} | {g.kind} | {g.target} | {shown} | {verdict} |")
    return "\n".join(out)
