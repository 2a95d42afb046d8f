"""The benchmark's own PostgreSQL database: URL spellings for each driver, drop & recreate, migrate, demo seed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

BENCH_DB = "weijian_bench"
DEMO_PASSWORD = "bench-Passw0rd"


@dataclass(frozen=True)
class Urls:
    """One database, spelled for each client the benchmark uses."""

    async_url: str  # postgresql+asyncpg://…  (the app, the async-ORM baseline)
    sync_url: str  # postgresql+psycopg2://… (the sync-ORM baseline)
    dsn: str  # postgresql://…           (raw asyncpg, pgbench/psql via libpq)
    host: str
    port: int
    user: str
    password: str
    database: str


def urls_for(url: str, database: str = BENCH_DB) -> Urls:
    """Take any PostgreSQL URL (e.g. WEIJIAN_TEST_DATABASE_URL) and point it at ``database``."""
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        raise SystemExit(f"the benchmark needs PostgreSQL, got {u.get_backend_name()!r} ({url})")
    u = u.set(database=database)
    plain = u.set(drivername="postgresql")
    return Urls(
        async_url=u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
        sync_url=u.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False),
        dsn=plain.render_as_string(hide_password=False),
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "",
        password=u.password or "",
        database=database,
    )


def _recreate(admin_dsn: str, database: str, force: bool) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,))
            (users,) = cur.fetchone() or (0,)
            if users and not force:
                raise SystemExit(
                    f"database {database} has {users} open connection(s): another benchmark running? "
                    "Wait, give another --database name, or pass --force-drop."
                )
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cur.execute(f"CREATE DATABASE \"{database}\" ENCODING 'UTF8' TEMPLATE template0")
    finally:
        conn.close()


def recreate_database(source_url: str, database: str = BENCH_DB, force: bool = False) -> Urls:
    """Drop and recreate ``database`` (connecting through the database of ``source_url``), then migrate it."""
    from migrations import upgrade

    src = make_url(source_url)
    if src.database == database:
        raise SystemExit(f"refusing to drop the database the URL points at ({database}); give another one")
    admin = urls_for(source_url, src.database or "postgres")
    _recreate(admin.dsn, database, force)
    urls = urls_for(source_url, database)
    upgrade(urls.async_url)
    return urls
