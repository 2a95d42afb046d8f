"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

import bot.models  # noqa: F401
import case_core.models  # noqa: F401  (registers the tables)
import knowledge_base.models  # noqa: F401
from case_core.db import Base
from case_core.settings import Settings


def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    url = make_url(settings.resolved_database_url)
    sync_url = url.set(drivername="sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg2")
    engine = create_engine(sync_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
