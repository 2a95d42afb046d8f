"""Loading the knowledge-base seed shipped in ``data/kb/`` (faq.yaml and synonyms.yaml): curated, so published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge_base.service import import_file
from knowledge_base.yamlio import parse

SEED_FILES = ("faq.yaml", "synonyms.yaml")


async def load_seed(
    session: AsyncSession, seed_dir: Path, now: datetime, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    total = {"created": 0, "updated": 0, "unchanged": 0, "synonyms": 0}
    for name in SEED_FILES:
        path = seed_dir / "kb" / name
        if path.exists():
            report = await import_file(session, parse(path.read_text(encoding="utf-8")), now, progress=progress)
            for k, v in report.items():
                total[k] += v
    return total
