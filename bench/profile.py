"""``python -m bench.profile``: where a request's CPU goes, in one process, without HTTP or a load generator.

Seeds ``weijian_bench`` like ``python -m bench``, builds the same app in-process and drives it straight through
ASGI (no socket, no uvicorn), N requests at a given concurrency on one event loop.

1. The database round trips of one request of each endpoint (counted on the asyncpg driver).
2. For each endpoint, the process CPU time per request (all threads: this is what caps a worker's throughput,
   and it is much less sensitive to other load on the machine than wall-clock req/s), and PostgreSQL's: the CPU
   of the local server's backends connected to the bench database (from /proc) over the run, per request. ``deps-def`` /
   ``deps-async`` against ``bare`` show what FastAPI's thread-pool hand-off of plain ``def`` dependencies costs.

``--pyinstrument ENDPOINT`` also prints a pyinstrument call tree of that endpoint (event-loop thread;
pyinstrument is not a project dependency: ``pip install pyinstrument``, or put a ``--target`` install on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from bench.app import build
from bench.db import Urls, recreate_database
from bench.seed import Fixture, bench_settings, new_data_dir, seed


def log(msg: str) -> None:
    print(f"[bench.profile {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _targets(fx: Fixture) -> dict[str, tuple[str, str | None]]:
    a = fx.applicant_id
    return {
        "bare": ("/bench/bare", None),
        "deps-def": ("/bench/deps-def", None),
        "deps-async": ("/bench/deps-async", None),
        "orm-one-row": (f"/bench/orm-one-row/{a}", None),
        "async-one-row": (f"/bench/async-one-row/{a}", None),
        "raw-asyncpg": (f"/bench/raw-asyncpg/{a}", None),
        "detail-5": (f"/api/v1/cases/{fx.case_5}", fx.detail_token),
        "detail-500": (f"/api/v1/cases/{fx.case_500}", fx.detail_token),
        "proto-detail-5": (f"/bench/proto/cases/{fx.case_5}", fx.detail_token),
        "tasks-todo": ("/api/v1/staff/tasks?view=todo", fx.staff_token),
        "tasks-finished": ("/api/v1/staff/tasks?view=finished", fx.staff_token),
    }


async def call(app: FastAPI, path: str, token: str | None, method: str = "GET") -> int:
    """One request straight through ASGI; returns the status."""
    raw_path, _, query = path.partition("?")
    headers = [(b"host", b"bench")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    status = 0

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(
    app: FastAPI, path: str, token: str | None, n: int, concurrency: int, paths: list[str] | None = None
) -> tuple[float, float]:
    """n requests, ``concurrency`` at a time; returns (requests per wall second, CPU µs per request). With
    ``paths``, each request POSTs to the next of them (submit: a draft of its own per request)."""
    left = n
    todo = list(paths or ())

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            target, method = (todo.pop(), "POST") if paths else (path, "GET")
            status = await call(app, target, token, method)
            if status != 200:
                raise RuntimeError(f"{target}: HTTP {status}")

    wall0, cpu0, pg0 = time.perf_counter(), time.process_time(), postgres_cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    DB_CPU_US[path or "submit"] = (postgres_cpu() - pg0) / n * 1e6
    return n / wall, cpu / n * 1e6


DB_CPU_US: dict[str, float] = {}  # PostgreSQL's CPU per request of the last drive of each path


BENCH_DATABASE = ["weijian_bench"]  # set by main()


def postgres_cpu() -> float:
    """CPU seconds used so far by the local PostgreSQL server's backends connected to the bench database (their
    process titles name it; the WAL writer and the other shared processes are not counted); 0 where /proc is not
    readable. Backends of other databases (someone else's tests) are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    marker = f" {BENCH_DATABASE[0]} "
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
            if not title.startswith("postgres: ") or marker not in title:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


class RoundTrips:
    """What one request costs in database round trips, counted on the driver (asyncpg), whichever way the code
    reaches it (SQLAlchemy, or the raw connection under it): simple queries (BEGIN, COMMIT, ROLLBACK, pings),
    statements executed (prepared, through SQLAlchemy or ``fetch*``), explicit prepares, executemany; plus
    SQLAlchemy's pool checkouts and new connections, from its events. Patches asyncpg in this process only."""

    def __init__(self, app: FastAPI) -> None:
        import asyncpg
        from asyncpg.prepared_stmt import PreparedStatement
        from sqlalchemy import event

        self.counts: dict[str, int] = {}
        for owner, name, key in ((asyncpg.Connection, "execute", "simple queries (BEGIN/COMMIT/…)"),
                                 (asyncpg.Connection, "_execute", "statements"),
                                 (PreparedStatement, "_PreparedStatement__bind_execute", "statements"),
                                 (asyncpg.Connection, "_executemany", "statements"),
                                 (asyncpg.Connection, "prepare", "prepares")):  # fmt: skip
            setattr(owner, name, self._wrap(getattr(owner, name), key))
        engine = app.state.engine.sync_engine
        for name in ("checkout", "connect"):
            event.listen(engine.pool, name, self._counter(name))

    def _wrap(self, fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        counts = self

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts.counts[key] = counts.counts.get(key, 0) + 1
            return await fn(*args, **kwargs)

        return wrapper

    def _counter(self, name: str) -> Callable[..., None]:
        def count(*_: Any, **__: Any) -> None:
            self.counts[name] = self.counts.get(name, 0) + 1

        return count

    async def measure(self, app: FastAPI, path: str, token: str | None, method: str = "GET") -> dict[str, int]:
        self.counts = {}
        status = await call(app, path, token, method)
        assert status == 200, (path, status)
        c = self.counts
        c["round_trips"] = sum(c.get(k, 0) for k in ("simple queries (BEGIN/COMMIT/…)", "statements", "prepares"))
        return dict(c)


async def round_trips(app: FastAPI, fx: Fixture, urls: Urls) -> None:
    from bench.seed import add_drafts

    counter = RoundTrips(app)
    targets = _targets(fx)
    drafts = await add_drafts(urls, fx, 2, batch=0)
    rows = []
    for name in ("detail-5", "detail-500", "tasks-todo", "tasks-finished", "submit"):
        if name == "submit":
            await call(app, f"/api/v1/cases/{drafts[0]}/submit", fx.submit_token, "POST")  # warm caches
            c = await counter.measure(app, f"/api/v1/cases/{drafts[1]}/submit", fx.submit_token, "POST")
        else:
            await call(app, *targets[name])  # warm the calendar cache and the statement caches
            c = await counter.measure(app, *targets[name])
        rows.append((name, c))
    print("\n| endpoint | round trips | simple queries (BEGIN, COMMIT, …) | statements | prepares "
          "| pool checkouts | new connections |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, c in rows:
        print(f"| {name} | {c['round_trips']} | {c.get('simple queries (BEGIN/COMMIT/…)', 0)} | "
              f"{c.get('statements', 0)} | {c.get('prepares', 0)} | {c.get('checkout', 0)} | "
              f"{c.get('connect', 0)} |")  # fmt: skip


async def run(args: argparse.Namespace, urls: Urls) -> None:
    data_dir = new_data_dir()
    secret = secrets.token_urlsafe(32)
    try:
        fx = await seed(urls, data_dir, secret, log=log)
        app = build(bench_settings(urls, data_dir, secret))
        targets = _targets(fx)
        names = args.endpoints.split(",")
        async with app.router.lifespan_context(app):
            await round_trips(app, fx, urls)
            rows = []
            batch = 1
            submit_paths: list[str] = []
            for name in names:
                if name == "submit":  # every request submits a draft of its own
                    from bench.seed import add_drafts

                    n = args.requests // 2
                    extra = n if args.pyinstrument == "submit" else 0  # drafts for the profiled run
                    ids = await add_drafts(urls, fx, n + n // 5 + extra, batch=batch)
                    batch += 1
                    paths = [f"/api/v1/cases/{i}/submit" for i in ids]
                    targets["submit"] = ("", fx.submit_token)
                    submit_paths = paths[n + n // 5 :]
                    await drive(app, "", fx.submit_token, n // 5, args.concurrency, paths[n : n + n // 5])  # warm-up
                    rps, cpu_us = await drive(app, "", fx.submit_token, n, args.concurrency, paths[:n])
                    rows.append((name, rps, cpu_us, DB_CPU_US["submit"]))
                    log(f"{name:15} {rps:8,.0f} req/s in-process   {cpu_us:7,.0f} µs CPU/request")
                    continue
                path, token = targets[name]
                await drive(app, path, token, args.requests // 5, args.concurrency)  # warm-up
                rps, cpu_us = await drive(app, path, token, args.requests, args.concurrency)
                rows.append((name, rps, cpu_us, DB_CPU_US[path]))
                log(f"{name:15} {rps:8,.0f} req/s in-process   {cpu_us:7,.0f} µs CPU/request")
            print(
                "\n| endpoint | req/s (1 process, in-process) | CPU µs / request | × bare | × orm-one-row"
                " | PostgreSQL CPU µs / request |"
            )
            print("|---|---:|---:|---:|---:|---:|")
            base = {n: c for n, _, c, _ in rows}
            for name, rps, cpu_us, db_us in rows:
                x_bare = f"{cpu_us / base['bare']:.1f}" if "bare" in base else "–"
                x_orm = f"{cpu_us / base['orm-one-row']:.2f}" if "orm-one-row" in base else "–"
                print(f"| {name} | {rps:,.0f} | {cpu_us:,.0f} | {x_bare} | {x_orm} | {db_us:,.0f} |")
            if args.pyinstrument:
                path, token = targets[args.pyinstrument]
                await profile_one(app, path, token, args, submit_paths if args.pyinstrument == "submit" else None)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def profile_one(
    app: FastAPI, path: str, token: str | None, args: argparse.Namespace, paths: list[str] | None = None
) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        log("pyinstrument not importable (pip install pyinstrument): no call tree")
        return
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    await drive(app, path, token, len(paths) if paths else args.requests, args.concurrency, paths)
    profiler.stop()
    print(
        f"\n## pyinstrument: {path or 'submit'} ({args.requests} requests, concurrency {args.concurrency},"
        " event-loop thread)\n"
    )
    print(profiler.output_text(unicode=True, color=False, show_all=args.show_all))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--database-url", default=os.environ.get("WEIJIAN_BENCH_DATABASE_URL")
                   or os.environ.get("WEIJIAN_TEST_DATABASE_URL"))  # fmt: skip
    p.add_argument("--endpoints", default="bare,deps-def,deps-async,orm-one-row,raw-asyncpg,detail-5,detail-500,"
                   "proto-detail-5,tasks-todo,tasks-finished,submit")  # fmt: skip
    p.add_argument("--database", default="weijian_bench", help="database to drop, recreate and use")
    p.add_argument("--force-drop", action="store_true", help="drop the database even if something is connected to it")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16, help="in flight at once (wrk's 32 over 2 workers)")
    p.add_argument("--pyinstrument", help="endpoint to profile with pyinstrument (e.g. detail-5)")
    p.add_argument("--show-all", action="store_true", help="pyinstrument: show library frames too (starlette, …)")
    args = p.parse_args(argv)
    if not args.database_url:
        p.error('no PostgreSQL: pass --database-url or run `eval "$(scripts/services)"` first')
    from bench.__main__ import code_fingerprint

    log(f"code measured: {code_fingerprint()}")
    BENCH_DATABASE[0] = args.database
    # As in `python -m bench`: delivering notifications is `weijian dispatch`'s work (bench.notify measures it).
    os.environ["WEIJIAN_NOTIFY_DISPATCH_IN_API"] = "0"
    urls = recreate_database(
        args.database_url, args.database, args.force_drop
    )  # migrations run their own event loop: not inside ours
    asyncio.run(run(args, urls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
