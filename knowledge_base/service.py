"""Curation use cases: import/export, the review workflow with its history, synonyms, feedback, hit counts and
the unanswered queue. Each function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain.errors import CaseError, Conflict, Forbidden, NotFound, ValidationFailed
from case_core.domain.states import Role
from case_core.models import ServiceItem
from case_core.principals import StaffPrincipal
from knowledge_base.models import KbEntry, KbEntryVersion, KbFeedback, KbSynonym, KbUnanswered
from knowledge_base.text import normalize
from knowledge_base.yamlio import EntryData, KbFile

STATUSES = ("draft", "in_review", "published", "archived")
CONTENT_FIELDS = ("question", "similar", "answer", "item_code", "tags")


class KbStateError(CaseError):
    code = "kb_invalid_state"
    status = 409


def snapshot(e: KbEntry) -> dict[str, Any]:
    return {
        "question": e.question,
        "similar": list(e.similar),
        "answer": e.answer,
        "item_code": e.item_code,
        "tags": list(e.tags),
    }


def entry_view(e: KbEntry, *, full: bool = True) -> dict[str, Any]:
    view = {
        "id": e.key,
        "status": e.status,
        "version": e.version,
        **snapshot(e),
        "published": e.published_doc is not None,
        "hits": e.hits,
        "feedback": {"useful": e.useful, "not_useful": e.not_useful},
        "updated_at": e.updated_at.isoformat(),
        "published_at": e.published_at.isoformat() if e.published_at else None,
    }
    if full:
        view["published_doc"] = e.published_doc
        view["author_id"], view["reviewer_id"] = e.author_id, e.reviewer_id
    return view


async def _history(
    session: AsyncSession,
    e: KbEntry,
    action: str,
    actor: StaffPrincipal | None,
    now: datetime,
    note: str | None = None,
    *,
    first: bool = False,
) -> None:
    seq = (
        0
        if first
        else (await session.scalar(select(func.max(KbEntryVersion.seq)).where(KbEntryVersion.entry_id == e.id))) or 0
    )
    session.add(
        KbEntryVersion(
            entry_id=e.id,
            seq=seq + 1,
            version=e.version,
            action=action,
            status=e.status,
            snapshot=snapshot(e),
            actor_id=actor.id if actor else None,
            actor_name=actor.name if actor else None,
            note=note,
            at=now,
        )
    )


async def get_entry(session: AsyncSession, key: str, *, lock: bool = False) -> KbEntry:
    stmt = select(KbEntry).where(KbEntry.key == key)
    if lock:
        stmt = stmt.with_for_update()
    e = await session.scalar(stmt)
    if e is None:
        raise NotFound("知识条目")
    return e


async def _check_item(session: AsyncSession, item_code: str | None) -> None:
    if item_code and await session.scalar(select(ServiceItem.id).where(ServiceItem.code == item_code)) is None:
        raise ValidationFailed("关联的事项不存在", fields={"item_code": "事项编码不存在"})


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in CONTENT_FIELDS:
        if f in data and data[f] is not None:
            out[f] = data[f]
    if "similar" in out:
        out["similar"] = list(dict.fromkeys(s.strip() for s in out["similar"] if s and s.strip()))
    for f in ("question", "answer"):
        if f in out:
            out[f] = out[f].strip()
            if not out[f]:
                raise ValidationFailed("问题和答案不能为空", fields={f: "不能为空"})
    return out


async def _next_key(session: AsyncSession) -> str:
    keys = (await session.scalars(select(KbEntry.key).where(KbEntry.key.like("faq-%")))).all()
    numbers = [int(k[4:]) for k in keys if k[4:].isdigit()]
    return f"faq-{max(numbers, default=0) + 1:04d}"


async def create(session: AsyncSession, data: dict[str, Any], actor: StaffPrincipal, now: datetime) -> KbEntry:
    data = _clean(data)
    if "question" not in data or "answer" not in data:
        raise ValidationFailed("请填写问题和答案", fields={"question": "必填", "answer": "必填"})
    await _check_item(session, data.get("item_code"))
    key = data.pop("key", None) or await _next_key(session)
    data = {"similar": [], "tags": [], **data}
    e = KbEntry(
        key=key,
        status="draft",
        version=1,
        hits=0,
        useful=0,
        not_useful=0,
        author_id=actor.id,
        created_at=now,
        updated_at=now,
        **data,
    )
    session.add(e)
    await session.flush()
    await _history(session, e, "create", actor, now, first=True)
    return e


async def edit(
    session: AsyncSession,
    key: str,
    data: dict[str, Any],
    actor: StaffPrincipal,
    now: datetime,
    expected_version: int | None = None,
) -> KbEntry:
    e = await get_entry(session, key, lock=True)
    if expected_version is not None and expected_version != e.version:
        raise Conflict("该条目已被他人修改，请刷新后重试", version=e.version)
    data = _clean(data)
    await _check_item(session, data.get("item_code"))
    for f, v in data.items():
        setattr(e, f, v)
    # Any edit goes back through review; the published copy (if any) stays in service meanwhile.
    e.status, e.version, e.author_id, e.reviewer_id, e.updated_at = "draft", e.version + 1, actor.id, None, now
    await _history(session, e, "edit", actor, now)
    return e


async def submit(session: AsyncSession, key: str, actor: StaffPrincipal, now: datetime) -> KbEntry:
    e = await get_entry(session, key, lock=True)
    if e.status != "draft":
        raise KbStateError("只有草稿可以提交审核", status=e.status)
    e.status, e.updated_at = "in_review", now
    await _history(session, e, "submit", actor, now)
    return e


def _reviewer(actor: StaffPrincipal, e: KbEntry) -> None:
    if not actor.has(Role.KB_REVIEWER):
        raise Forbidden("只有审核人可以发布或退回知识条目")
    if e.author_id == actor.id:
        raise Forbidden("不能审核自己编写的条目，请由其他审核人发布")


async def publish(session: AsyncSession, key: str, actor: StaffPrincipal, now: datetime) -> KbEntry:
    e = await get_entry(session, key, lock=True)
    if e.status != "in_review":
        raise KbStateError("只有待审核的条目可以发布", status=e.status)
    _reviewer(actor, e)
    _make_published(e, now)
    e.reviewer_id = actor.id
    await _history(session, e, "publish", actor, now)
    return e


async def reject(session: AsyncSession, key: str, actor: StaffPrincipal, now: datetime, note: str) -> KbEntry:
    e = await get_entry(session, key, lock=True)
    if e.status != "in_review":
        raise KbStateError("只有待审核的条目可以退回", status=e.status)
    _reviewer(actor, e)
    e.status, e.updated_at = "draft", now
    await _history(session, e, "reject", actor, now, note=note)
    return e


async def archive(session: AsyncSession, key: str, actor: StaffPrincipal, now: datetime) -> KbEntry:
    e = await get_entry(session, key, lock=True)
    if e.status == "archived":
        raise KbStateError("该条目已归档", status=e.status)
    e.status, e.published_doc, e.updated_at = "archived", None, now
    await _history(session, e, "archive", actor, now)
    return e


def _make_published(e: KbEntry, now: datetime) -> None:
    e.status, e.published_doc, e.published_at, e.updated_at = "published", snapshot(e), now, now


async def history(session: AsyncSession, key: str) -> list[dict[str, Any]]:
    e = await get_entry(session, key)
    rows = await session.scalars(
        select(KbEntryVersion).where(KbEntryVersion.entry_id == e.id).order_by(KbEntryVersion.seq)
    )
    return [
        {
            "seq": r.seq,
            "version": r.version,
            "action": r.action,
            "status": r.status,
            "snapshot": r.snapshot,
            "actor_id": r.actor_id,
            "actor_name": r.actor_name,
            "note": r.note,
            "at": r.at.isoformat(),
        }
        for r in rows
    ]


async def list_entries(
    session: AsyncSession, status: str | None, q: str | None, limit: int, offset: int
) -> tuple[int, list[KbEntry]]:
    stmt = select(KbEntry)
    if status:
        stmt = stmt.where(KbEntry.status == status)
    if q:
        stmt = stmt.where(KbEntry.question.contains(q) | KbEntry.key.contains(q))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(stmt.order_by(KbEntry.key).limit(limit).offset(offset))
    return total, list(rows)


# ------------------------------------------------------------------------------------------ import / export


async def import_file(
    session: AsyncSession,
    kb: KbFile,
    now: datetime,
    *,
    actor: StaffPrincipal | None = None,
    publish: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Upsert every entry by its key. ``publish``: the file is curated (the seed, an export): entries go live at
    once; otherwise they land as drafts for review. Unchanged entries are left alone (no new version)."""
    codes = set((await session.scalars(select(ServiceItem.code))).all())
    unknown = sorted({e.item_code for e in kb.entries if e.item_code and e.item_code not in codes})
    if unknown:
        raise ValidationFailed(f"文件引用了不存在的事项：{'、'.join(unknown[:5])}", item_codes=unknown)
    existing = {e.key: e for e in (await session.scalars(select(KbEntry))).all()}
    report = {"created": 0, "updated": 0, "unchanged": 0, "synonyms": 0}
    total = len(kb.entries)
    for n, d in enumerate(kb.entries, 1):
        content = {
            "question": d.question,
            "similar": d.similar,
            "answer": d.answer,
            "item_code": d.item_code,
            "tags": d.tags,
        }
        e = existing.get(d.key)
        created = False
        if e is None:
            e = KbEntry(
                key=d.key,
                status="draft",
                version=1,
                hits=0,
                useful=0,
                not_useful=0,
                created_at=now,
                updated_at=now,
                author_id=actor.id if actor else None,
                **content,
            )
            session.add(e)
            await session.flush()
            report["created"] += 1
            created = True
        elif snapshot(e) == content and (e.status == "published" or not publish):
            report["unchanged"] += 1
            if progress:
                progress(n, total)
            continue
        else:
            for f, v in content.items():
                setattr(e, f, v)
            e.version, e.updated_at, e.status = e.version + 1, now, "draft"
            report["updated"] += 1
        if publish:
            _make_published(e, now)
        await _history(session, e, "import", actor, now, first=created)
        if progress:
            progress(n, total)
    for term, canonical in kb.synonyms:
        report["synonyms"] += await put_synonym(session, term, canonical, now)
    return report


def _entry_data(e: KbEntry, published: bool) -> EntryData | None:
    doc = e.published_doc if published else snapshot(e)
    if doc is None:
        return None
    return EntryData(
        key=e.key,
        question=doc["question"],
        similar=list(doc["similar"]),
        answer=doc["answer"],
        item_code=doc["item_code"],
        tags=list(doc["tags"]),
    )


async def export_entries(session: AsyncSession, *, published_only: bool = True) -> list[EntryData]:
    rows = await session.scalars(select(KbEntry).order_by(KbEntry.key))
    out = [_entry_data(e, published_only) for e in rows]
    return [d for d in out if d is not None]


# ------------------------------------------------------------------------------------------ synonyms


async def synonyms(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(KbSynonym.term, KbSynonym.canonical).order_by(KbSynonym.canonical, KbSynonym.term)
    )
    return [(r.term, r.canonical) for r in rows]


async def put_synonym(session: AsyncSession, term: str, canonical: str, now: datetime) -> int:
    term, canonical = normalize(term).replace(" ", ""), normalize(canonical).replace(" ", "")
    if not term or not canonical or term == canonical or len(term) > 64 or len(canonical) > 64:
        raise ValidationFailed("同义词和标准词不能为空、不能相同，且不超过64字", fields={"term": "无效"})
    row = await session.scalar(select(KbSynonym).where(KbSynonym.term == term))
    if row is None:
        session.add(KbSynonym(term=term, canonical=canonical, updated_at=now))
        return 1
    if row.canonical != canonical:
        row.canonical, row.updated_at = canonical, now
        return 1
    return 0


async def delete_synonym(session: AsyncSession, term: str, now: datetime) -> None:
    row = await session.scalar(select(KbSynonym).where(KbSynonym.term == normalize(term).replace(" ", "")))
    if row is None:
        raise NotFound("同义词")
    await session.delete(row)
    # Deleting leaves no row to carry a newer timestamp; touch an entry so the other workers notice.
    await session.execute(
        update(KbEntry).where(KbEntry.id == select(func.min(KbEntry.id)).scalar_subquery()).values(updated_at=now)
    )


# ------------------------------------------------------------------------------------------ usage


async def count_hit(session: AsyncSession, key: str) -> None:
    await session.execute(update(KbEntry).where(KbEntry.key == key).values(hits=KbEntry.hits + 1))


async def feedback(
    session: AsyncSession,
    key: str,
    useful: bool,
    now: datetime,
    *,
    comment: str | None = None,
    conversation_id: int | None = None,
) -> KbEntry:
    e = await get_entry(session, key)
    if e.published_doc is None:
        raise NotFound("知识条目")
    session.add(
        KbFeedback(
            entry_id=e.id, useful=useful, comment=(comment or "")[:500] or None, conversation_id=conversation_id, at=now
        )
    )
    column = KbEntry.useful if useful else KbEntry.not_useful
    await session.execute(update(KbEntry).where(KbEntry.id == e.id).values({column: column + 1}))
    return e


async def log_unanswered(
    session: AsyncSession, question: str, best_key: str | None, best_score: float | None, now: datetime
) -> None:
    text = question.strip()[:500]
    norm = normalize(text)[:500]
    if not norm:
        return
    row = await session.scalar(select(KbUnanswered).where(KbUnanswered.normalized == norm))
    if row is None:
        session.add(
            KbUnanswered(
                question=text,
                normalized=norm,
                best_key=best_key,
                best_score=best_score,
                count=1,
                status="open",
                first_seen_at=now,
                last_seen_at=now,
            )
        )
    else:
        row.count, row.last_seen_at, row.best_key, row.best_score = row.count + 1, now, best_key, best_score
        if row.status != "open":
            row.status = "open"


def unanswered_view(r: KbUnanswered) -> dict[str, Any]:
    return {
        "id": r.id,
        "question": r.question,
        "count": r.count,
        "best_id": r.best_key,
        "best_score": r.best_score,
        "status": r.status,
        "entry_id": r.entry_id,
        "first_seen_at": r.first_seen_at.isoformat(),
        "last_seen_at": r.last_seen_at.isoformat(),
    }


async def unanswered(session: AsyncSession, status: str, limit: int, offset: int) -> list[KbUnanswered]:
    rows = await session.scalars(
        select(KbUnanswered)
        .where(KbUnanswered.status == status)
        .order_by(KbUnanswered.count.desc(), KbUnanswered.last_seen_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


async def resolve_unanswered(
    session: AsyncSession,
    row_id: int,
    actor: StaffPrincipal,
    now: datetime,
    *,
    key: str | None,
    data: dict[str, Any],
    dismiss: bool = False,
) -> KbEntry | None:
    """One step from the queue: dismiss it, add the question to an existing entry (``key``) as a similar
    question, or create a new entry with it. Either way the entry is a draft to be reviewed."""
    row = await session.get(KbUnanswered, row_id)
    if row is None:
        raise NotFound("未解答问题")
    if row.status != "open":
        raise KbStateError("该问题已处理", status=row.status)
    entry: KbEntry | None = None
    if dismiss:
        row.status = "dismissed"
    elif key:
        e = await get_entry(session, key)
        similar = [*e.similar, row.question]
        entry = await edit(session, key, {**data, "similar": similar}, actor, now)
    else:
        entry = await create(session, {"question": row.question, **data}, actor, now)
    if entry is not None:
        row.status, row.entry_id = "resolved", entry.id
    return entry
