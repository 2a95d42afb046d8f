"""Services of its own for each pytest-xdist worker (``scripts/test`` runs the suite with ``-n``).

The tests drop the PostgreSQL schema and flush the Redis database at will, so two workers on one database would
wreck each other's fixtures. Each worker ``gwN`` therefore rewrites ``WEIJIAN_TEST_DATABASE_URL`` to a database of
its own (``<name>_gwN``, created here when missing, next to the configured one) and ``WEIJIAN_TEST_REDIS_URL`` to
the Redis database ``base + N``. It does so in the environment, before any test module reads it, so that test
modules and the subprocesses the tests start (OCR worker, notification jobs) all see the worker's services.
Without xdist (``pytest tests/x``, ``-n 0``) nothing changes."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DB_ENV = "WEIJIAN_TEST_DATABASE_URL"
REDIS_ENV = "WEIJIAN_TEST_REDIS_URL"


def worker_index() -> int | None:
    """0, 1, … under pytest-xdist (``PYTEST_XDIST_WORKER=gw0``, ``gw1``, …); None in a plain run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return int(worker.removeprefix("gw")) if worker else None


def use_worker_services() -> None:
    n = worker_index()
    if n is None:
        return
    if db_url := os.environ.get(DB_ENV):
        os.environ[DB_ENV] = _worker_database(db_url, f"gw{n}")
    if redis_url := os.environ.get(REDIS_ENV):
        os.environ[REDIS_ENV] = _worker_redis(redis_url, n)


def _worker_database(url: str, suffix: str) -> str:
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{suffix}"
    _create_database(base, name)
    return base.set(database=name).render_as_string(hide_password=False)


def _create_database(base: URL, name: str) -> None:
    """CREATE DATABASE if missing (the test role has CREATEDB), from template0 like ``scripts/services`` does."""
    import psycopg2
    from psycopg2 import errors

    conn = psycopg2.connect(
        host=base.host, port=base.port, user=base.username, password=base.password, dbname=base.database
    )
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    create = f'CREATE DATABASE "{name}" OWNER "{base.username}" ENCODING \'UTF8\' TEMPLATE template0'
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                # A second pytest run that started at the same moment may have made it: as good.
                with contextlib.suppress(errors.DuplicateDatabase):
                    cur.execute(create)
    finally:
        conn.close()


def _worker_redis(url: str, n: int) -> str:
    """``redis://host:port/B`` → ``redis://host:port/B+N``; fails clearly past the server's last database."""
    import redis

    parts = urlsplit(url)
    path = parts.path.strip("/")
    db = (int(path) if path.isdigit() else 0) + n
    try:
        configured = int(redis.Redis.from_url(url).config_get("databases")["databases"])
    except redis.RedisError:  # CONFIG may be disabled: Redis's default then
        configured = 16
    if db >= configured:
        raise RuntimeError(
            f"xdist worker gw{n} needs Redis database {db} but {url} has {configured}: run fewer workers (-n)"
        )
    return urlunsplit(parts._replace(path=f"/{db}"))
