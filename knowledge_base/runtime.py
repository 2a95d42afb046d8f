"""The knowledge base as the running app holds it: the analyzer (jieba + user dictionary + synonyms), the current
index of published entries, and the catalogue's guides.

Freshness without a restart: a publish in this process rebuilds at once (``refresh``); other workers compare a
cheap stamp of the tables (count and latest change of entries and synonyms) at most every ``CHECK_SECONDS`` and
rebuild when it moved. Searches keep using the old index while a new one is built.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_core.models import MaterialType, ServiceItem
from knowledge_base import guides
from knowledge_base.dense import Dense
from knowledge_base.index import Doc, Hit, KbIndex, Tokens
from knowledge_base.models import KbEntry, KbSynonym
from knowledge_base.service import synonyms
from knowledge_base.text import Analyzer

CHECK_SECONDS = 1.0
MAX_QUERY_CHARS = 200  # longer questions are cut: the first sentences say what is asked


def _name_parts(name: str) -> list[str]:
    """医师执业注册（首次注册） → 医师执业注册（首次注册）, 医师执业注册, 首次注册."""
    return [p for p in re.split(r"[（）()、，,]", name) if len(p) >= 2] + [name]


class KnowledgeBase:
    """``dense``: the configured re-ranker (``knowledge_base.dense.from_settings``), None for lexical search only."""

    def __init__(self, dense: Dense | None = None) -> None:
        self.dense = dense
        self.index = KbIndex([], Analyzer(), dense=dense)
        self.guides: dict[str, dict[str, Any]] = {}
        self.item_names: dict[str, str] = {}
        self._stamp: object = None
        self._tokens: Tokens | None = None
        self._analyzer_key: object = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    @staticmethod
    async def stamp(session: AsyncSession) -> tuple[Any, ...]:
        e = (await session.execute(select(func.count(KbEntry.id), func.max(KbEntry.updated_at)))).one()
        s = (await session.execute(select(func.count(KbSynonym.id), func.max(KbSynonym.updated_at)))).one()
        return (e[0], e[1], s[0], s[1])

    async def load(self, session: AsyncSession) -> None:
        """(Re)build from the database: catalogue words and guides, synonyms, published entries."""
        stamp = await self.stamp(session)
        items = (await session.execute(select(ServiceItem.code, ServiceItem.name, ServiceItem.data))).all()
        names = {r.id: r.name for r in await session.execute(select(MaterialType.id, MaterialType.name))}
        pairs = await synonyms(session)
        rows = (
            await session.execute(
                select(KbEntry.key, KbEntry.published_doc)
                .where(KbEntry.published_doc.is_not(None))
                .order_by(KbEntry.key)
            )
        ).all()
        docs = [
            Doc(
                r.key,
                r.published_doc["question"],
                tuple(r.published_doc["similar"]),
                r.published_doc["answer"],
                r.published_doc.get("item_code"),
            )
            for r in rows
            if r.published_doc is not None  # JSON null (archived) as well as SQL NULL (never published)
        ]
        words = [p for it in items for p in _name_parts(it.name)] + list(names.values())

        key = (tuple(words), tuple(pairs))

        def build() -> KbIndex:
            # Same dictionary and synonyms as last time: keep the analysed texts, re-analyse only what changed.
            if self._tokens is None or key != self._analyzer_key:
                analyzer = Analyzer()
                analyzer.add_words(words)
                analyzer.set_synonyms(pairs)
                self._tokens, self._analyzer_key = Tokens(analyzer), key
            index = KbIndex(
                docs,
                self._tokens.analyzer,
                stamp,
                self._tokens,
                self.dense,
                item_names={it.code: it.name for it in items},
            )
            if self.dense is not None:
                self.dense.vectors.retain([t for d in docs for t in (d.question, *d.similar)])
            return index

        # A large rebuild, or any rebuild that may run the encoder, stays off the event loop.
        index = await asyncio.to_thread(build) if len(docs) > 2000 or self.dense is not None else build()
        self.guides = {it.code: guides.guide(it.code, it.name, it.data, names) for it in items}
        self.item_names = {it.code: it.name for it in items}
        self.index, self._stamp, self._checked = index, stamp, time.monotonic()

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], *, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked < CHECK_SECONDS:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked < CHECK_SECONDS:
                return
            async with sessions() as session:
                self._checked = time.monotonic()
                if force or await self.stamp(session) != self._stamp:
                    await self.load(session)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        query = query[:MAX_QUERY_CHARS]
        return self.index.search(query, k)
