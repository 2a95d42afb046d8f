"""``python -m bench.bot_turn``: what a client of Rasa's REST channel waits for one bot turn, on a real uvicorn.

Set-up: a temporary data directory with the embedded SQLite database, or with ``--database-url`` a PostgreSQL
database ``weijian_bench_bot`` made next to the one the URL names (dropped and recreated); migrated, the demo
loaded (catalogue, KB seed), and one applicant logged in through the real WeChat login (against a loopback fake
of WeChat's API) with one submitted case, so progress lookups run for real.

Run: ``uvicorn mobile_api.main:app`` with one worker; ``--clients`` simulated applicants (default 1: one request
at a time), each walking conversations of a fixed mix, five kinds, in a loop:

* ``kb``       — greeting, a knowledge-base question (from bench/kb_eval.yaml, colloquial, with typos), "办好要多久",
                 "要交钱吗" (item questions answered from the catalogue guide), thanks;
* ``kb2``      — three more eval questions in a row, then goodbye;
* ``progress`` — the logged-in applicant: "我的办件到哪一步了" (the form asks, offering their open cases), the serial
                 number (the case's progress), thanks;
* ``handoff``  — a question, "转人工" (the conversation goes to the agents' queue), "在吗" (the bot says an agent will
                 come);
* ``chitchat`` — greeting, an emoji, something out of scope, thanks.

Each turn is preceded by a GET /healthz on the same connection: the baseline (uvicorn + FastAPI + the loopback,
on the machine as it is at that moment). Reported: p50/p95/p99 of the turn, of each kind of turn, of /healthz,
and the turn's p95 over /healthz's p95; the load average before and after. ``--parse`` adds POST /model/parse
(the NLU alone) to each step.

``--profile`` instead drives the same app in-process (httpx's ASGI transport, no socket) and prints the SQL
statements of each kind of turn and a pyinstrument call tree (``PYTHONPATH=/tmp/bench-tools`` or any install of
pyinstrument).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.db import DEMO_PASSWORD
from bench.fakewechat import APPID, SECRET, FakeWeChat
from bench.kb import eval_set
from bench.server import HOST, free_port

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "weijian_bench_bot"
SECRET_KEY = "bench-secret-bot"
HOOK = "/webhooks/rest/webhook"


@dataclass
class Fixture:
    env: dict[str, str]
    token: str  # the logged-in applicant
    serial_no: str  # their submitted case


def pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    if not s:
        return {"n": 0}

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, max(0, int(len(s) * q + 0.5) - 1))] * 1000, 2)

    return {"n": len(s), "p50_ms": round(statistics.median(s) * 1000, 2), "p95_ms": at(0.95), "p99_ms": at(0.99)}


# ----------------------------------------------------------------------------------------------- set-up


def prepare(database_url: str | None, bench_database: str = BENCH_DB, redis_url: str = "") -> Fixture:
    data_dir = Path(tempfile.mkdtemp(prefix="weijian-bot-bench-"))
    env = {
        **os.environ,
        "WEIJIAN_DATA_DIR": str(data_dir),
        "WEIJIAN_SECRET_KEY": SECRET_KEY,
        "WEIJIAN_DEMO_PASSWORD": DEMO_PASSWORD,
        "WEIJIAN_BOT_MESSAGES_PER_MINUTE": "1000000",
        "WEIJIAN_REDIS_URL": redis_url,  # the conversation locks and the rate limiter in Redis, as in production
        "WEIJIAN_OCR_CHECK_UPLOADS": "false",
    }
    if database_url:
        from bench.db import recreate_database

        env["WEIJIAN_DATABASE_URL"] = recreate_database(database_url, bench_database, force=True).async_url
    else:
        env.pop("WEIJIAN_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "mobile_api.cli", "demo"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    token, serial_no = asyncio.run(_applicant_with_a_case(env))
    return Fixture(env, token, serial_no)


async def _applicant_with_a_case(env: dict[str, str]) -> tuple[str, str]:
    """Log an applicant in through the real endpoint and submit one case (as bench.seed does)."""
    from bench.seed import _Walker
    from case_core.settings import Settings
    from mobile_api.app import create_app

    with FakeWeChat() as wx:
        settings = Settings(
            database_url=env.get("WEIJIAN_DATABASE_URL") or None,
            data_dir=Path(env["WEIJIAN_DATA_DIR"]),
            redis_url=None,
            secret_key=SECRET_KEY,
            demo_password=DEMO_PASSWORD,
            wechat_appid=APPID,
            wechat_secret=SECRET,
            wechat_api_base_url=wx.url,
            ocr_check_uploads=False,
            _env_file=None,
        )
        app = create_app(settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            w = _Walker(client)
            who, _ = await w.applicant("bench-bot")
            case_id = await w.complete_draft(who)
            case = await w.ok("POST", f"/api/v1/cases/{case_id}/submit", headers=who)
        await app.state.engine.dispose()
    return who["Authorization"].split()[1], str(case["serial_no"])


# ----------------------------------------------------------------------------------------------- the mix


def conversations(fx: Fixture, seed: int = 0) -> Iterator[tuple[str, list[tuple[str, bool]]]]:
    """(kind, [(text, logged_in), ...]) forever, in a fixed pseudo-random order."""
    rnd = random.Random(seed)
    questions = [x["q"] for x in eval_set()]
    kinds = ["kb", "kb", "kb2", "progress", "progress", "handoff", "chitchat"]
    while True:
        kind = rnd.choice(kinds)
        q = [rnd.choice(questions) for _ in range(3)]
        if kind == "kb":
            yield (
                kind,
                [("你好", False), (q[0], False), ("护士注册办好要多久", False), ("要交钱吗", False), ("谢谢", False)],
            )
        elif kind == "kb2":
            yield kind, [(q[0], False), (q[1], False), (q[2], False), ("再见", False)]
        elif kind == "progress":
            yield kind, [("我的办件到哪一步了", True), (fx.serial_no, True), ("好的谢谢", True)]
        elif kind == "handoff":
            yield kind, [(q[0], False), ("转人工", False), ("在吗", False)]
        else:
            yield kind, [("您好", False), ("😀😀", False), ("今天天气怎么样", False), ("谢谢", False)]


async def client_loop(
    url: str, fx: Fixture, cid: int, turns: int, out: dict[str, list[float]], parse: bool, warm: int
) -> None:
    auth = {"Authorization": f"Bearer {fx.token}"}
    n = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for k, (kind, steps) in enumerate(conversations(fx, seed=cid)):
            sender = f"c{cid}-{k}-{kind}"
            for text, logged_in in steps:
                measured = n >= warm
                t = time.perf_counter()
                r = await c.get("/healthz")
                if measured:
                    out["healthz"].append(time.perf_counter() - t)
                if parse:
                    t = time.perf_counter()
                    await c.post("/model/parse", json={"text": text})
                    if measured:
                        out["model_parse"].append(time.perf_counter() - t)
                t = time.perf_counter()
                r = await c.post(HOOK, json={"sender": sender, "message": text}, headers=auth if logged_in else {})
                dt = time.perf_counter() - t
                if r.status_code != 200:
                    raise RuntimeError(f"{text!r}: {r.status_code} {r.text[:300]}")
                if kind == "progress" and text == fx.serial_no and fx.serial_no not in r.text:
                    raise RuntimeError(f"progress lookup did not answer: {r.text[:300]}")
                if measured:
                    out["rest_turn"].append(dt)
                    out[f"turn:{kind}"].append(dt)
                n += 1
                if n >= turns + warm:
                    return


def run_http(fx: Fixture, turns: int, clients: int, parse: bool, py_spy: str | None = None) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "mobile_api.main:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=fx.env,
        cwd=ROOT,
        start_new_session=True,
    )
    url = f"http://{HOST}:{port}"
    out: dict[str, list[float]] = defaultdict(list)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(600):
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        load_before = os.getloadavg()
        started = time.perf_counter()
        spy, spy_out = None, Path(tempfile.mkdtemp(prefix="bot-spy-")) / "server.raw"
        if py_spy:
            from bench import pyspy

            spy = pyspy.record(py_spy, server.pid, max(5, turns // 40), spy_out)

        async def run() -> None:
            per = turns // clients
            await asyncio.gather(*(client_loop(url, fx, i, per, out, parse, warm=20) for i in range(clients)))

        asyncio.run(run())
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()
        if spy is not None:
            spy.wait()
    finally:
        server.terminate()
        server.wait(10)
    result: dict[str, Any] = {name: pct(v) for name, v in sorted(out.items())}
    result["rest_turn_p95_over_healthz_p95"] = round(result["rest_turn"]["p95_ms"] / result["healthz"]["p95_ms"], 1)
    result["turns_per_second"] = round(len(out["rest_turn"]) / elapsed, 1)
    result["load_before"] = [round(x, 2) for x in load_before]
    result["load_after"] = [round(x, 2) for x in load_after]
    if py_spy:
        from bench import pyspy

        result["py_spy"] = pyspy.summarize([spy_out], top=30)
    return result


# ----------------------------------------------------------------------------------------------- --profile


def run_profile(fx: Fixture, turns: int) -> None:
    """In-process: SQL statements per kind of turn, then a pyinstrument tree of ``turns`` turns."""
    from sqlalchemy import event

    from case_core.settings import Settings
    from mobile_api.app import create_app

    settings = Settings(
        database_url=fx.env.get("WEIJIAN_DATABASE_URL") or None,
        data_dir=Path(fx.env["WEIJIAN_DATA_DIR"]),
        redis_url=None,
        secret_key=SECRET_KEY,
        bot_messages_per_minute=1_000_000,
        _env_file=None,
    )
    app = create_app(settings)
    statements: list[str] = []

    @event.listens_for(app.state.engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql.split(None, 1)[0].upper())

    auth = {"Authorization": f"Bearer {fx.token}"}

    async def go() -> None:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c,
        ):
            per_kind: dict[str, list[list[str]]] = defaultdict(list)
            steps = [
                (kind, f"p{k}-{kind}", text, li)
                for k, (kind, conv) in zip(range(60), conversations(fx), strict=False)
                for text, li in conv
            ]
            for kind, sender, text, li in steps:
                statements.clear()
                r = await c.post(HOOK, json={"sender": sender, "message": text}, headers=auth if li else {})
                assert r.status_code == 200, r.text
                per_kind[kind].append(list(statements))
            print("SQL statements per turn (after warm-up), by kind of conversation:")
            for kind, runs in sorted(per_kind.items()):
                counts = [len(s) for s in runs[3:]] or [len(s) for s in runs]
                example = max(runs, key=len)
                print(f"  {kind:<9} mean {statistics.mean(counts):.1f}  max {max(counts)}  e.g. {' '.join(example)}")
            try:
                from pyinstrument import Profiler
            except ImportError:
                print("(pyinstrument not importable: PYTHONPATH=/tmp/bench-tools for the call tree)")
                return
            profiler = Profiler(async_mode="enabled", interval=0.0005)
            t = time.perf_counter()
            with profiler:
                for i in range(turns):
                    kind, sender, text, li = steps[i % len(steps)]
                    await c.post(
                        HOOK,
                        json={"sender": f"{sender}-{i // len(steps)}", "message": text},
                        headers=auth if li else {},
                    )
            print(f"{turns} turns in-process: {(time.perf_counter() - t) / turns * 1000:.2f} ms per turn")
            print(profiler.output_text(unicode=True, color=False, show_all=False))

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument("--clients", type=int, default=1, help="simulated applicants at once")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (default: embedded SQLite)")
    parser.add_argument("--redis-url", default="", help="Redis for the server (locks, rate limits, push)")
    parser.add_argument("--bench-database", default=BENCH_DB, help="the PostgreSQL database to (re)create")
    parser.add_argument("--parse", action="store_true", help="also time POST /model/parse at each step")
    parser.add_argument("--profile", action="store_true", help="in-process SQL counts and pyinstrument tree")
    parser.add_argument("--py-spy", default=None, help="path of py-spy: sample the server's GIL thread meanwhile")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    fx = prepare(args.database_url, args.bench_database, args.redis_url)
    try:
        report(args, fx)
    finally:
        shutil.rmtree(fx.env["WEIJIAN_DATA_DIR"], ignore_errors=True)


def report(args: argparse.Namespace, fx: Fixture) -> None:
    if args.profile:
        run_profile(fx, args.turns)
        return
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "redis": bool(args.redis_url),
        "clients": args.clients,
    }
    result.update(run_http(fx, args.turns, args.clients, args.parse, args.py_spy))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print(
        f"database {result['database']}{' + Redis' if args.redis_url else ''}, {args.clients} client(s), "
        f"load {result['load_before']} → {result['load_after']}"
    )
    for name, v in result.items():
        if isinstance(v, dict) and "p50_ms" in v:
            print(
                f"  {name:<16} p50 {v['p50_ms']:>7} ms  p95 {v['p95_ms']:>7} ms  p99 {v['p99_ms']:>7} ms  (n={v['n']})"
            )
    print(
        f"  turn p95 / healthz p95 = {result['rest_turn_p95_over_healthz_p95']}, {result['turns_per_second']} turns/s"
    )


if __name__ == "__main__":
    main()
