"""Test fixtures: every API test runs on SQLite (in-process fallbacks) and, where configured, on PostgreSQL with a
real Redis (``WEIJIAN_TEST_DATABASE_URL`` / ``WEIJIAN_TEST_REDIS_URL``, set by ``scripts/services``). In CI both
must be present: a missing service fails the run instead of skipping tests."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from case_core.settings import Settings
from tests.support.api import Api
from tests.support.fake_wechat import FakeWeChat
from tests.support.workers import use_worker_services

use_worker_services()  # under pytest-xdist: this worker's own database and Redis db, before anything reads them
PG_URL = os.environ.get("WEIJIAN_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("WEIJIAN_TEST_REDIS_URL")
if os.environ.get("CI") and not (PG_URL and REDIS_URL):
    raise RuntimeError("CI must run the suite on PostgreSQL and Redis: run scripts/services first")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# Rows the tests create; the catalogue, calendar, departments and the KB seed stay loaded for the whole session
# (KB tests work on entries and synonyms of their own and clean those up).
DYNAMIC_TABLES = (
    "bot_messages",
    "bot_conversations",
    "bot_wechat_inbound",
    "kb_feedback",
    "kb_unanswered",
    "notify_inbox",
    "notify_deliveries",
    "notify_outbox",
    "notify_preferences",
    "notify_staff_preferences",
    "notify_followups",
    "notify_templates",
    "notify_channel_rules",
    "notify_job_runs",
    "apscheduler_jobs",
    "audit_log",
    "staff_wechat_bind_codes",
    "evaluations",
    "licences",
    "notices",
    "clock_pauses",
    "material_checks",
    "materials",
    "case_events",
    "cases",
    "serial_counters",
    "applicants",
)
DEMO_PASSWORD = "test-Passw0rd"
WECHAT_MP_TOKEN = "weijian-mp-token"
WECHAT_MP_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them


def _reset_postgres(url: str) -> None:
    from case_core.db import make_engine

    async def reset() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``postgresql_only`` test has no SQLite run when PostgreSQL is configured (its path does not exist there);
    without PostgreSQL its SQLite run stays, and skips, so that the gap shows."""
    if "postgresql" not in BACKENDS:
        return
    dropped = [
        item
        for item in items
        if item.get_closest_marker("postgresql_only")
        and getattr(getattr(item, "callspec", None), "params", {}).get("backend") == "sqlite"
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def settings(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChat) -> Settings:
    from migrations import upgrade
    from mobile_api.demo import DEMO_STAFF, create_staff, load_demo

    data_dir = tmp_path_factory.mktemp(f"var-{backend}")
    if backend == "sqlite":
        url, redis_url = f"sqlite+aiosqlite:///{data_dir / 'test.db'}", None
    else:
        assert PG_URL
        url, redis_url = PG_URL, REDIS_URL
        _reset_postgres(url)
    s = Settings(
        database_url=url,
        data_dir=data_dir,
        redis_url=redis_url,
        secret_key="test-secret-key",
        wechat_appid=fake_wechat.appid,
        wechat_secret=fake_wechat.secret,
        wechat_api_base_url=fake_wechat.url,
        wechat_mp_appid=fake_wechat.appid,
        wechat_mp_secret=fake_wechat.secret,
        wechat_mp_token=WECHAT_MP_TOKEN,
        wechat_mp_aes_key=WECHAT_MP_AES_KEY,
        demo_password=DEMO_PASSWORD,
        ocr_check_uploads=False,  # tests/ocr turn it on with a shared, warm OCR pool
        seed_dir=Path(__file__).resolve().parent.parent / "data",
        _env_file=None,
    )
    upgrade(url)

    async def seed() -> None:
        from case_core.db import make_engine, make_sessionmaker

        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session, session.begin():
            await load_demo(session, s)
            # A second department outside the demo staff's scope, for the data-scope tests.
            await create_staff(
                session,
                username="other_clerk",
                name="外区收件员",
                roles=tuple(DEMO_STAFF["shouli"][1]),
                department="深圳市卫生健康委员会",
                password=DEMO_PASSWORD,
            )
        await engine.dispose()

    asyncio.run(seed())
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    return s


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    from case_core import calendar, catalogue
    from mobile_api.app import create_app
    from mobile_api.demo import DEMO_STAFF

    # Pub/sub is shared by the whole Redis server: a channel of its own per test, so that a push still in flight
    # from one test (a background notify) never reaches the next test's sockets.
    application = create_app(settings.model_copy(update={"push_channel": f"weijian:push:test:{secrets.token_hex(4)}"}))
    engine = application.state.engine
    async with engine.begin() as conn:
        for table in DYNAMIC_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
        # The seeded accounts stay (with their password); the ones a test created go.
        seeded = ", ".join(f"'{name}'" for name in (*DEMO_STAFF, "other_clerk"))
        await conn.execute(text(f"DELETE FROM staff WHERE username NOT IN ({seeded})"))
        await conn.execute(
            text(
                "UPDATE staff SET failed_logins = 0, locked_until = NULL, phone_enc = NULL, phone_masked = NULL,"
                " email_enc = NULL, email_masked = NULL, mp_openid_enc = NULL, mp_openid_masked = NULL,"
                " mp_openid_index = NULL,"
                " contacts_updated_at = NULL, active = true, token_version = 0, must_change_password = false,"
                " last_login_at = NULL"
            )
        )
    calendar.invalidate()
    catalogue.invalidate(versions=True)  # the process-wide caches must not carry ids across backends
    if settings.redis_url:
        import redis

        redis.Redis.from_url(settings.redis_url).flushdb()
    yield application
    await application.state.weijian.push.close()  # pushes still in flight go out now, not into the next test
    if application.state.weijian.reads is not None:  # no lifespan under ASGITransport: close by hand
        await application.state.weijian.reads.close()
    await engine.dispose()


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient, app: object) -> Api:
    return Api(client, app)
