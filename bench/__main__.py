"""``python -m bench``: HTTP throughput of the hot endpoints against baselines measured in the same run.

PostgreSQL database ``weijian_bench`` (dropped, recreated, migrated, seeded) → ``uvicorn bench.app:app`` with
2 workers on 127.0.0.1 → wrk on each endpoint (warm-up, then the measured run), all endpoints once per round,
best round kept → pgbench -S for context → results JSON in bench/results/ and Markdown tables on stdout.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

from bench import cpu, pyspy, report, wrk
from bench.db import BENCH_DB, Urls, recreate_database
from bench.seed import TASK_CASES, Fixture, add_drafts, count_submitted, new_data_dir, seed
from bench.server import Server

RESULTS = Path(__file__).resolve().parent / "results"
SUBMIT_TAIL = 5.0  # seconds wrk keeps running after the last submit is sent, so that every one is answered
ALL = ("bare", "orm-one-row", "async-one-row", "raw-asyncpg", "detail-5", "detail-500", "proto-detail-5",
       "proto-detail-500", "tasks-todo", "tasks-finished", "submit")  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def endpoints(fx: Fixture) -> dict[str, Endpoint]:
    a = fx.applicant_id
    return {e.name: e for e in (
        Endpoint("bare", "/bench/bare"),
        Endpoint("orm-one-row", f"/bench/orm-one-row/{a}"),
        Endpoint("async-one-row", f"/bench/async-one-row/{a}"),
        Endpoint("raw-asyncpg", f"/bench/raw-asyncpg/{a}"),
        Endpoint("detail-5", f"/api/v1/cases/{fx.case_5}", fx.detail_token),
        Endpoint("detail-500", f"/api/v1/cases/{fx.case_500}", fx.detail_token),
        Endpoint("proto-detail-5", f"/bench/proto/cases/{fx.case_5}", fx.detail_token),
        Endpoint("proto-detail-500", f"/bench/proto/cases/{fx.case_500}", fx.detail_token),
        Endpoint("tasks-todo", "/api/v1/staff/tasks?view=todo", fx.staff_token),
        Endpoint("tasks-finished", "/api/v1/staff/tasks?view=finished", fx.staff_token),
        Endpoint("submit", "/api/v1/cases/{id}/submit", fx.submit_token),
    )}  # fmt: skip


_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _instants(value: Any) -> Any:
    """Timestamps as instants, so that two spellings of one time compare equal (Python's isoformat always
    prints 6 digits of microseconds, PostgreSQL's JSON drops trailing zeros)."""
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instants(v) for v in value]
    if isinstance(value, str) and _ISO.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def check(server: Server, eps: dict[str, Endpoint], fx: Fixture) -> None:
    """One request to each endpoint before the load: right status, right shape (a fast wrong answer is no use)."""
    with httpx.Client(base_url=server.url, timeout=10) as c:
        for e in eps.values():
            if e.name == "submit":
                r = c.post(f"/api/v1/cases/{fx.probe_draft}/submit", headers=e.headers())
                assert r.status_code == 200 and r.json()["status"] == "submitted", r.text[:500]
                continue
            r = c.get(e.path, headers=e.headers())
            assert r.status_code == 200, f"{e.name}: {r.status_code} {r.text[:500]}"
            body = r.json()
            if e.name == "detail-5":
                assert body["events_total"] == 5 and len(body["events"]) == 5, body["events_total"]
            if e.name == "detail-500":
                assert body["events_total"] == 500 and len(body["events"]) == 50 and body["events_more"]
            if e.name.startswith("tasks-"):
                assert len(body["items"]) == 20, len(body["items"])
            if e.name.startswith("proto-"):  # the prototype must give the real endpoint's answer
                real = c.get(eps[e.name.removeprefix("proto-")].path, headers=e.headers()).json()
                body, real = _instants(body), _instants(real)
                diff = {k: (body.get(k), real.get(k)) for k in body.keys() | real.keys() if body.get(k) != real.get(k)}
                assert not diff, f"{e.name} differs from the real endpoint (prototype, real): {diff}"
                other = c.get(e.path, headers={"Authorization": f"Bearer {fx.submit_token}"})
                assert other.status_code == 404, f"{e.name}: another applicant's case gave {other.status_code}"


class Runner:
    def __init__(self, args: argparse.Namespace, server: Server, urls: Urls, fx: Fixture, workdir: Path) -> None:
        self.args, self.server, self.urls, self.fx, self.workdir = args, server, urls, fx, workdir
        self.meter = cpu.Meter(lambda: [self.server.proc.pid if self.server.proc else 0,
                                        *self.server.worker_pids(), *cpu.bench_backends(urls.database)])  # fmt: skip
        self.wait_left = args.quiet_wait
        self.batches = 0

    def load(self, url: str, seconds: float, **kw: Any) -> wrk.WrkResult:
        return wrk.run(url, duration=seconds, threads=self.args.threads, connections=self.args.connections, **kw)

    def wait_quiet(self) -> tuple[float, float]:
        """Before a run, wait (within the run's overall budget) until other processes leave the machine alone."""
        waited, foreign = 0.0, cpu.foreign_now(1.0)
        while foreign > self.args.quiet_threshold and self.wait_left >= 1:
            self.wait_left -= 1
            waited += 1
            foreign = cpu.foreign_now(1.0)
        return waited, foreign

    def pg_sessions(self) -> int:
        """Connections PostgreSQL has accepted into the bench database so far (pg_stat_database.sessions)."""

        async def q() -> int:
            import asyncpg

            conn = await asyncpg.connect(self.urls.dsn)
            try:
                await conn.execute("SELECT pg_stat_clear_snapshot()")
                return int(await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1",
                                               self.urls.database))  # fmt: skip
            finally:
                await conn.close()

        return asyncio.run(q())

    def measure(self, e: Endpoint) -> wrk.WrkResult:
        url = self.server.url + e.path
        if self.args.warmup:
            self.load(url, self.args.warmup, headers=e.headers())
        time.sleep(1.1)  # let the statistics of the warm-up's sessions reach pg_stat_database
        sessions = self.pg_sessions()
        self.meter.start()
        res = self.load(url, self.args.duration, headers=e.headers())
        res.extra["cpu"] = self.meter.stop().as_dict()
        time.sleep(1.1)
        # New server connections opened during the run, less the one pg_sessions itself opens: a pool that
        # holds fewer connections than the requests in flight opens and closes one per request.
        res.extra["new_pg_connections"] = self.pg_sessions() - sessions - 1
        return res

    def drafts(self, n: int) -> list[int]:
        ids = asyncio.run(add_drafts(self.urls, self.fx, n, self.batches))
        self.batches += 1
        return ids

    def submit_run(self, ids: list[int], seconds: float, tag: str) -> wrk.WrkResult:
        """Submits for ``seconds``, then a quiet tail until every request sent has its answer (see submit.lua)."""
        path = self.workdir / f"drafts-{tag}.txt"
        path.write_text("".join(f"{i}\n" for i in ids))
        args = [str(path), self.fx.submit_token, str(self.args.threads), str(round(seconds * 1000))]
        res = self.load(self.server.url, seconds + SUBMIT_TAIL, script=wrk.SUBMIT_LUA, script_args=args,
                        timeout_s=SUBMIT_TAIL - 1)  # fmt: skip
        # The rate over the sending window (first request to last answer), not over wrk's whole run.
        res.requests = res.extra["ok_2xx"] + res.extra["not_2xx"]
        res.duration_us = res.extra["window_us"]
        return res

    def measure_submit(self, bare_rps: float) -> wrk.WrkResult:
        """Warm-up on one pool of fresh drafts, then the measured run on a second pool sized from the warm-up
        rate (twice what it could use); then count what the database says."""
        rate = bare_rps  # an upper bound when there is no warm-up to go by
        if self.args.warmup:
            warm = self.submit_run(self.drafts(self.args.drafts), self.args.warmup, f"warmup-{self.batches}")
            if not warm.extra["exhausted"]:
                rate = warm.rps
        ids = self.drafts(int(rate * self.args.duration * 2) + 1000)
        self.meter.start()
        res = self.submit_run(ids, self.args.duration, f"main-{self.batches}")
        usage = self.meter.stop().as_dict()
        submitted = asyncio.run(count_submitted(self.urls, ids))
        x = res.extra
        x.update(cpu=usage, submitted_in_db=submitted, drafts_available=len(ids))
        # Every request went to a draft of its own, and every request sent was answered before wrk stopped;
        # so the drafts submitted must be exactly the 2xx answers. Were an id reused (a cheap no-op submit)
        # there would be fewer; were a request left unanswered, more.
        x["unanswered"] = x["sent"] - x["ok_2xx"] - x["not_2xx"]
        x["verified"] = (x["not_2xx"] == 0 and x["exhausted"] == 0 and x["unanswered"] == 0
                         and submitted == x["ok_2xx"])  # fmt: skip
        return res

    def profile(self, e: Endpoint, submit_rps: float) -> dict[str, Any]:
        """An extra, unmeasured wrk run with py-spy sampling every worker; the top costs."""
        py_spy = pyspy.find(self.args.py_spy)
        if not py_spy:
            log("py-spy not found (pip install py-spy, or --py-spy PATH): skipping the profile")
            return {}
        seconds = max(3, round(self.args.duration))
        ids = self.drafts(int(submit_rps * seconds * 2) + 1000) if e.name == "submit" else []
        pids = self.server.worker_pids()
        outs = [self.workdir / f"profile-{e.name}-{pid}.txt" for pid in pids]
        procs = [pyspy.record(py_spy, pid, seconds, out) for pid, out in zip(pids, outs, strict=True)]
        time.sleep(0.5)
        if e.name == "submit":
            self.submit_run(ids, seconds, f"profile-{self.batches}")
        else:
            self.load(self.server.url + e.path, seconds, headers=e.headers())
        for p in procs:
            try:
                _, err = p.communicate(timeout=seconds + 30)
                if p.returncode:
                    log(f"py-spy exited {p.returncode}: {err.decode(errors='replace')[-500:]}")
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
        return pyspy.summarize(outs)


def pgbench(urls: Urls, args: argparse.Namespace) -> dict[str, Any] | None:
    exe = shutil.which("pgbench")
    if not exe:
        return None
    env = {**os.environ, "PGPASSWORD": urls.password}
    conn = ["-h", urls.host, "-p", str(urls.port), "-U", urls.user]
    init = [exe, *conn, "-i", "-s", "1", "-q", urls.database]
    subprocess.run(init, env=env, capture_output=True, check=True, timeout=120)
    seconds = str(max(1, round(args.duration)))
    cmd = [exe, *conn, "-S", "-n", "-M", "prepared", "-c", str(args.connections), "-j", str(args.threads), "-T",
           seconds, urls.database]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=args.duration + 60)
    lines = out.stdout.splitlines()
    tps = next((float(ln.split()[2]) for ln in lines if ln.startswith("tps =")), None)
    lat = next((float(ln.split()[3]) for ln in lines if ln.startswith("latency average")), None)
    return {"tps": tps, "latency_avg_ms": lat, "command": " ".join(cmd[1:])}  # the password is in the env


def code_fingerprint() -> dict[str, Any]:
    """What code was measured: a hash of the application's sources (git is not consulted), and when the newest of
    them changed, so that runs on different code are not compared by mistake."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    files = sorted(p for d in ("case_core", "mobile_api", "migrations") for p in (root / d).rglob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    newest = max(files, key=lambda f: f.stat().st_mtime)
    changed = datetime.fromtimestamp(newest.stat().st_mtime, UTC).isoformat(timespec="seconds")
    return {"sha256": h.hexdigest()[:16], "files": len(files), "newest": str(newest.relative_to(root)),
            "newest_mtime": changed}  # fmt: skip


def machine(urls: Urls) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.machine())
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))

    async def pg_version() -> str:
        import asyncpg

        conn = await asyncpg.connect(urls.dsn)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    wrk_v = subprocess.run([wrk.find_wrk(), "-v"], capture_output=True, text=True, check=False)
    debian = Path("/etc/debian_version")
    packages = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg", "psycopg2-binary",
                "pydantic", "orjson")  # fmt: skip
    return {
        "cpu": model, "cores": os.cpu_count(), "mem_gib": round(int(mem) / 1024 / 1024, 1),
        "os": f"Debian {debian.read_text().strip()}" if debian.exists() else platform.platform(),
        "kernel": platform.release(), "loadavg_before": os.getloadavg(), "python": platform.python_version(),
        "postgresql": asyncio.run(pg_version()), "wrk": (wrk_v.stdout + wrk_v.stderr).split("\n")[0].strip(),
        "packages": {p: version(p) for p in packages},
    }  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    default_url = os.environ.get("WEIJIAN_BENCH_DATABASE_URL") or os.environ.get("WEIJIAN_TEST_DATABASE_URL")
    p.add_argument("--database-url", default=default_url,
                   help="any URL of the PostgreSQL server (default: $WEIJIAN_BENCH_DATABASE_URL or "
                        f"$WEIJIAN_TEST_DATABASE_URL); the benchmark uses database {BENCH_DB} on it")  # fmt: skip
    p.add_argument("--database", default=BENCH_DB, help=f"database to drop, recreate and use (default {BENCH_DB})")
    p.add_argument("--force-drop", action="store_true", help="drop the database even if something is connected to it")
    p.add_argument("--duration", type=float, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per endpoint and round (default 3)")
    p.add_argument("--rounds", type=int, default=2, help="rounds over all endpoints; the best is kept (default 2)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument(
        "--drafts",
        type=int,
        default=6000,
        help="drafts for each submit warm-up (the measured run gets twice what the warm-up rate needs)",
    )
    p.add_argument("--task-cases", type=int, default=TASK_CASES, help="cases in the staff task list (default 2000)")
    p.add_argument("--only", help=f"comma-separated subset of: {','.join(ALL)} (bare and orm-one-row always run)")
    p.add_argument("--no-pgbench", action="store_true", help="skip pgbench -S")
    p.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        help="before each run, wait while other processes use more than this share of the CPUs",
    )
    p.add_argument("--quiet-wait", type=float, default=45, help="total seconds the runs may wait for quiet")
    p.add_argument(
        "--profile", default="", help="comma-separated endpoints to profile with py-spy in an extra, unmeasured run"
    )
    p.add_argument("--py-spy", help="path to py-spy (default: on PATH)")
    args = p.parse_args(argv)
    if not args.database_url:
        p.error('no PostgreSQL: pass --database-url or run `eval "$(scripts/services)"` first')
    if not 1 <= args.rounds <= 10:
        p.error("--rounds: 1 to 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    names = list(ALL)
    if args.only:
        wanted = {"bare", "orm-one-row", *args.only.split(",")}
        if wanted - set(ALL):
            raise SystemExit(f"unknown endpoints: {', '.join(sorted(wanted - set(ALL)))}")
        names = [n for n in ALL if n in wanted]
    to_profile = [n for n in args.profile.split(",") if n]
    if set(to_profile) - set(ALL):
        raise SystemExit(f"--profile takes endpoints of: {', '.join(ALL)}")

    log(f"recreating database {args.database} and migrating")
    urls = recreate_database(args.database_url, args.database, args.force_drop)
    info = machine(urls)
    code: dict[str, Any] = {}
    data_dir = new_data_dir()
    workdir = Path(tempfile.mkdtemp(prefix="weijian-bench-work-"))
    secret = secrets.token_urlsafe(32)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    profiles: dict[str, Any] = {}
    pg = None
    try:
        fx = asyncio.run(seed(urls, data_dir, secret, task_cases=args.task_cases, log=log))
        log(f"seeded in {time.monotonic() - started:.0f}s: cases {fx.case_5} (5 events), {fx.case_500} "
            f"(500 events), {fx.task_cases} task-list cases")  # fmt: skip
        eps = endpoints(fx)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEIJIAN_")}
        env.update(WEIJIAN_DATABASE_URL=urls.async_url, WEIJIAN_SECRET_KEY=secret, WEIJIAN_DATA_DIR=str(data_dir))
        # Submit writes its notification to the outbox (measured); delivering it is the dispatcher's work, run here
        # as a process of its own would be (`weijian dispatch`), and measured by `python -m bench.notify`.
        env.update(WEIJIAN_NOTIFY_DISPATCH_IN_API="0", WEIJIAN_OCR_CHECK_UPLOADS="0")
        with Server(env, workers=args.workers, log_path=workdir / "uvicorn.log") as server:
            log(f"uvicorn up at {server.url} (workers {server.worker_pids()}); checking every endpoint once")
            check(server, eps, fx)  # every route has run once: the workers have imported all they use
            code = code_fingerprint()
            r = Runner(args, server, urls, fx, workdir)
            for rnd in range(1, args.rounds + 1):
                for name in names:
                    waited, foreign = r.wait_quiet()
                    quiet = f" (waited {waited:.0f}s for quiet; other load now {foreign:.0%})" if waited else ""
                    log(f"round {rnd}: {name}: {args.warmup:g}s warm-up + {args.duration:g}s{quiet}")
                    bare = max((x["rps"] for x in runs.get("bare", [])), default=0.0)
                    res = r.measure_submit(bare) if name == "submit" else r.measure(eps[name])
                    row = {"name": name, "path": eps[name].path, "round": rnd, **res.as_dict(),
                           "error_total": res.error_total, "foreign_cpu": res.extra["cpu"]["foreign"],
                           "waited_s": waited}  # fmt: skip
                    runs[name].append(row)
                    log(f"  {res.rps:,.0f} req/s, p50 {res.p50_us / 1000:.2f} ms, p99 {res.p99_us / 1000:.2f} ms, "
                        f"errors {res.error_total}, other load {row['foreign_cpu']:.0%}"
                        + (f", {res.extra}" if name == "submit" else ""))  # fmt: skip
            for name in to_profile:
                log(f"profiling {name} with py-spy (extra run, not measured)")
                submit_rps = max((x["rps"] for x in runs.get("submit", [])), default=500.0)
                profiles[name] = r.profile(eps[name], submit_rps)
        if not args.no_pgbench:
            log("pgbench -S (uvicorn stopped)")
            try:
                meter = cpu.Meter(lambda: cpu.bench_backends(urls.database))
                meter.start()
                pg = pgbench(urls, args)
                if pg:
                    pg["foreign_cpu"] = meter.stop().foreign
            except (subprocess.SubprocessError, OSError) as exc:
                log(f"pgbench failed: {exc}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)

    best = [max(runs[n], key=lambda x: x["rps"]) for n in names if runs[n]]
    for row in best:
        row["all_rounds_rps"] = [round(x["rps"]) for x in runs[row["name"]]]
    gs = report.goals({r["name"]: r["rps"] for r in best}, {r["name"]: r["p50_us"] for r in best})
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info, "code": code,
        "code_after": code_fingerprint(),
        "settings": {k: getattr(args, k) for k in ("duration", "warmup", "rounds", "threads", "connections",
                                                   "workers", "drafts", "task_cases", "only")},
        "uvicorn": server.cmd[2:], "best": best, "runs": runs, "pgbench": pg, "goals": [g.as_dict() for g in gs],
        "profiles": profiles, "elapsed_s": round(time.monotonic() - started, 1),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(report.markdown(result))
    print(f"\nresults: {out}; took {result['elapsed_s']:.0f}s")
    return 0 if all(g.ok for g in gs if g.kind == "must") else 1


if __name__ == "__main__":
    sys.exit(main())
