"""``python -m bench.notify``: the notifications' speed, on PostgreSQL, each figure beside a baseline of the same run.

* ``dispatch``: queue N outbox rows (one applicant each, phone encrypted), then time the dispatcher (expand, claim,
  send through AliyunSms to a local Aliyun-protocol server in another process, record) until all are sent.
  Baseline: the same number of signed SendSms requests straight to the same server with the same concurrency,
  without the outbox. The ratio is the outbox's bookkeeping cost. ``--recipients staff`` does the same for staff
  reminders (a red light to each of N staff members, phone encrypted on ``staff``; chain SMS only, as the applicants'
  rows have one external channel too); ``both`` (the default) runs the two, each with its own baseline.
* ``overdue``: grow the open cases to 10k, 100k, 1M (set-based inserts), and at each size time the overdue scan
  (two INSERT … SELECT … ON CONFLICT DO NOTHING into the outbox) on an empty outbox ("first scan": every red and
  yellow case is new) and again ("repeat scan": nothing new). Baseline: ``SELECT count(*)`` of the same red and
  yellow cases, the floor of any scan.

Database: ``weijian_notify_bench`` (dropped and recreated) next to the database of ``WEIJIAN_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.db import recreate_database
from bench.seed import bench_settings
from case_core.crypto import FieldCipher
from case_core.db import make_engine, make_sessionmaker
from case_core.timeutil import local_date, utcnow
from notifiers.channels.base import Message
from notifiers.channels.sms import AliyunSms
from notifiers.jobs import JobContext, overdue_scan
from notifiers.runtime import dispatcher as make_dispatcher
from notifiers.settings import NotifySettings

DB = "weijian_notify_bench"
SECRET = "bench-notify-secret"
RESULTS = Path(__file__).resolve().parent / "results"


def log(msg: str) -> None:
    print(f"[bench.notify {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def _seed_demo(url: str, data_dir: Path) -> None:
    from mobile_api.demo import load_demo

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await load_demo(session, bench_settings_for(url, data_dir))
    await engine.dispose()


def bench_settings_for(url: str, data_dir: Path) -> Any:
    from bench.db import urls_for

    return bench_settings(urls_for(url, DB), data_dir, SECRET)


def _provider() -> tuple[subprocess.Popen[str], str]:
    """The local Aliyun-protocol server, in its own process (so it does not share our GIL)."""
    code = (
        "import sys,time\n"
        "from tests.support.fake_sms import FakeSmsServer\n"
        "s = FakeSmsServer('aliyun').start()\n"
        "print(s.url, flush=True)\n"
        "sys.stdin.read()\n"
        "print(len(s.accepted), len(set(m['key'] for m in s.accepted)), flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _stop_provider(proc: subprocess.Popen[str]) -> tuple[int, int]:
    out, _ = proc.communicate("", timeout=30)
    accepted, distinct = (int(x) for x in out.split())
    return accepted, distinct


async def _queue_applicants(conn: Any, cipher: FieldCipher, n: int, now: datetime) -> None:
    """N applicants with a phone, each the recipient of one "submitted" message."""
    await conn.execute(
        text(
            "INSERT INTO applicants (openid, phone_enc, phone_masked, created_at, updated_at) "
            "SELECT 'bench-' || g, :phone, '138****0000', :now, :now FROM generate_series(1, :n) g"
        ),
        {"phone": cipher.encrypt("13800138000"), "now": now, "n": n},
    )
    await conn.execute(
        text(
            "INSERT INTO notify_outbox (key, event, audience, recipient_id, urgent, data, created_at) "
            "SELECT 'bench:' || a.id, 'submitted', 'applicant', a.id, false, "
            "jsonb_build_object('serial_no', 'WJ' || a.id, 'item_name', '医师执业注册'), :now "
            "FROM applicants a WHERE a.openid LIKE 'bench-%'"
        ),
        {"now": now},
    )


async def _queue_staff(conn: Any, cipher: FieldCipher, n: int, now: datetime) -> None:
    """N staff members with a phone, each the recipient of one red light (as a leader's briefing names its leader)."""
    await conn.execute(
        text(
            "INSERT INTO staff (username, name, password_hash, department_id, roles, active, failed_logins, "
            "created_at, phone_enc, phone_masked) "
            "SELECT 'bench-' || g, '审核员' || g, 'x', (SELECT min(id) FROM departments), '[\"handler\"]'::jsonb, "
            "true, 0, :now, :phone, '138****0000' FROM generate_series(1, :n) g"
        ),
        {"phone": cipher.encrypt("13800138000"), "now": now, "n": n},
    )
    await conn.execute(
        text(
            "INSERT INTO notify_outbox (key, event, audience, recipient_id, urgent, data, created_at) "
            "SELECT 'bstaff:' || s.id, 'light_red', 'staff', s.id, false, "
            "jsonb_build_object('serial_no', 'WJ' || s.id, 'item_name', '医师执业注册', 'due', '2026年11月20日'), :now "
            "FROM staff s WHERE s.username LIKE 'bench-%'"
        ),
        {"now": now},
    )


async def dispatch_bench(
    url: str, n: int, concurrency: int, batch: int, recipients: str = "applicant"
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    cipher = FieldCipher(SECRET)
    engine = make_engine(url)
    now = utcnow()
    prefix = "bench:" if recipients == "applicant" else "bstaff:"
    async with engine.begin() as conn:
        await (_queue_staff if recipients == "staff" else _queue_applicants)(conn, cipher, n, now)
    settings = bench_settings_for(url, data_dir)
    proc, provider_url = _provider()
    try:
        ns = NotifySettings(
            data_dir=data_dir,
            sms_provider="aliyun",
            sms_endpoint=provider_url,
            sms_access_key_id="test-key-id",
            sms_access_key_secret="test-key-secret",
            rate_limit_per_hour=0,
            quiet_start_hour=0,
            quiet_end_hour=0,
            dispatch_batch=batch,
            dispatch_concurrency=concurrency,
            chains_json='{"light_red": ["sms"]}',  # one external channel per message, as for the applicants' rows
            _env_file=None,
        )
        d = make_dispatcher(settings, make_sessionmaker(engine), ns=ns)
        started = time.perf_counter()
        await d.drain(max_rounds=100_000)
        elapsed = time.perf_counter() - started
        async with engine.connect() as conn:
            statuses: dict[str, int] = dict(
                (
                    await conn.execute(
                        text("SELECT status, count(*) FROM notify_deliveries WHERE key LIKE :p GROUP BY 1"),
                        {"p": prefix + "%"},
                    )
                ).all()
            )

        # Baseline: the same signed requests straight to the server, same concurrency, no outbox.
        sms = AliyunSms("test-key-id", "test-key-secret", "卫健政务", endpoint=provider_url)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                outcome = await sms.send(Message(key=f"raw:{i}", to="13800138000", title="", body="", params={}))
                assert outcome.kind == "sent", outcome

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        raw = time.perf_counter() - started
    finally:
        accepted, distinct = _stop_provider(proc)
        await engine.dispose()
    return {
        "recipients": recipients,
        "messages": n,
        "deliveries": sum(statuses.values()),
        "statuses": statuses,
        "dispatch_seconds": round(elapsed, 3),
        "sms_per_second": round(n / elapsed, 1),
        "deliveries_per_second": round(sum(statuses.values()) / elapsed, 1),
        "baseline_raw_sends_per_second": round(n / raw, 1),
        "ratio_dispatch_to_raw": round((n / elapsed) / (n / raw), 3),
        "provider_accepted": accepted,
        "provider_distinct_keys": distinct,
        "concurrency": concurrency,
        "batch": batch,
    }


CASES_INSERT = """
INSERT INTO cases (serial_no, applicant_id, applicant_name, item_id, item_code, item_name, department_id,
    form_version_id, process_version_id, status, step_index, step_key, step_role, form_masked, delivery_masked,
    materials_doc, notices_doc, supplement_count, extension_days, promised_limit_working_days,
    legal_limit_working_days, licence_expected, submitted_at, accepted_at, due_date, deadline_provisional,
    event_count, created_at, updated_at, version)
SELECT 'BN' || lpad(g::text, 12, '0'), :applicant, '张三', i.id, i.code, i.name, i.department_id,
    i.form_version_id, i.process_version_id, 'accepted', 1, 'review', 'handler', '{}'::jsonb, '{}'::jsonb,
    '[]'::jsonb, '[]'::jsonb, 0, 0, 20, 20, false, :now, :now,
    CAST(:today AS date) + ((g % CAST(:spread AS integer)) - 10), false, 2, :now, :now, 1
FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) g, (SELECT * FROM service_items ORDER BY id LIMIT 1) i
"""


async def overdue_bench(url: str, sizes: list[int], repeats: int, spread: int) -> list[dict[str, Any]]:
    """Due dates cycle over ``spread`` days starting 10 days ago: 10/spread of the cases are red, ~2–4/spread
    yellow (40: a stress case, 35 % overdue; 400: 2.5 % red, a busy but plausible commission)."""
    engine = make_engine(url)
    now = utcnow()
    today = local_date(now)
    async with engine.begin() as conn:
        applicant = (
            await conn.execute(
                text(
                    "INSERT INTO applicants (openid, created_at, updated_at) VALUES ('bench-scan', :n, :n) RETURNING id"
                ),
                {"n": now},
            )
        ).scalar_one()
    ns = NotifySettings(_env_file=None)
    ctx = JobContext(sessions=make_sessionmaker(engine), settings=ns, yellow_days=2)
    out = []
    have = 0
    for size in sizes:
        log(f"growing the open cases to {size:,}")
        async with engine.begin() as conn:
            await conn.execute(
                text(CASES_INSERT),
                {"applicant": applicant, "now": now, "today": today, "lo": have + 1, "hi": size, "spread": spread},
            )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE cases"))
        have = size
        firsts, again, base = [], [], []
        counted = 0
        for _ in range(repeats):
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE notify_outbox CASCADE"))
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE notify_outbox"))
            started = time.perf_counter()
            async with ctx.sessions() as session, session.begin():
                result = await overdue_scan(session, ctx, now)
            firsts.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with ctx.sessions() as session, session.begin():
                second = await overdue_scan(session, ctx, now)
            again.append(time.perf_counter() - started)
            assert second == {"yellow": 0, "red": 0}, second
            started = time.perf_counter()
            async with engine.connect() as conn:
                counted = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM cases WHERE status IN ('accepted','suspended','approved') "
                            "AND paused_since IS NULL AND due_date < :boundary"
                        ),
                        {"boundary": today + timedelta(days=4)},  # ~ red + yellow (two working days)
                    )
                ).scalar_one()
            base.append(time.perf_counter() - started)
        row = {
            "open_cases": size,
            "reminders": result,
            "first_scan_seconds": round(statistics.median(firsts), 3),
            "repeat_scan_seconds": round(statistics.median(again), 3),
            "baseline_count_seconds": round(statistics.median(base), 3),
            "baseline_rows": counted,
            "first_scan_per_1k_cases_ms": round(1000 * statistics.median(firsts) / (size / 1000), 3),
        }
        log(json.dumps(row, ensure_ascii=False))
        out.append(row)
    await engine.dispose()
    return out


def _git_head() -> str:
    return subprocess.run(["git", "rev-parse", "--short=16", "HEAD"], capture_output=True, text=True).stdout.strip()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    source = os.environ.get("WEIJIAN_TEST_DATABASE_URL") or args.database_url
    if not source:
        raise SystemExit("set WEIJIAN_TEST_DATABASE_URL (any database on the PostgreSQL server to use)")
    urls = await asyncio.to_thread(recreate_database, source, DB, args.force_drop)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    await _seed_demo(urls.async_url, data_dir)
    report: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_head(),
    }
    if args.what in ("all", "dispatch"):
        for recipients in ("applicant", "staff") if args.recipients == "both" else (args.recipients,):
            name = "dispatch" if recipients == "applicant" else "dispatch_staff"
            log(f"{name}: {args.messages} messages to {recipients} recipients")
            report[name] = await dispatch_bench(urls.async_url, args.messages, args.concurrency, args.batch, recipients)
            log(json.dumps(report[name], ensure_ascii=False))
    if args.what in ("all", "overdue"):
        report["overdue_spread"] = args.spread
        report["overdue"] = await overdue_bench(urls.async_url, args.sizes, args.repeats, args.spread)
    return report


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.notify")
    p.add_argument("what", choices=("all", "dispatch", "overdue"), nargs="?", default="all")
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--recipients", choices=("applicant", "staff", "both"), default="both")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--spread", type=int, default=40, help="due dates cycle over this many days (40: 25%% red)")
    p.add_argument("--database-url")
    p.add_argument("--force-drop", action="store_true")
    args = p.parse_args()
    report = asyncio.run(main_async(args))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"notify-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    log(f"results in {path}")


if __name__ == "__main__":
    main()
