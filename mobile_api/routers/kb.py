"""The knowledge base over HTTP: public search, answers and guides; the agents' curation API (6.7.6).

Curation needs the ``consult_agent`` role; publishing and rejecting need ``kb_reviewer`` and someone other than
the last editor. Changes that alter what the bot serves (publish, archive, import, synonyms) commit first and
rebuild the index before the response, so the next search sees them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from case_core.domain.errors import Forbidden, NotFound, PayloadTooLarge, TooManyRequests, ValidationFailed
from case_core.domain.states import Role
from case_core.principals import StaffPrincipal
from knowledge_base import service
from knowledge_base.runtime import KnowledgeBase
from knowledge_base.yamlio import KbFileInvalid, dump_rasa, dump_seed, parse
from mobile_api.deps import CurrentStaff, InfoDep, NowDep, SessionDep, StateDep

router = APIRouter(prefix="/kb", tags=["knowledge base"])
MAX_IMPORT_BYTES = 5_000_000


def kb_of(request: Request) -> KnowledgeBase:
    return request.app.state.kb


async def fresh_kb(request: Request) -> KnowledgeBase:
    kb = kb_of(request)
    await kb.refresh(request.app.state.weijian.read_sessions)
    return kb


async def agent(staff: CurrentStaff) -> StaffPrincipal:
    if not staff.has(Role.CONSULT_AGENT):
        raise Forbidden("只有咨询坐席可以维护知识库")
    return staff


KbDep = Annotated[KnowledgeBase, Depends(fresh_kb)]
AgentDep = Annotated[StaffPrincipal, Depends(agent)]


def search_results(kb: KnowledgeBase, q: str, k: int) -> dict:
    return {"results": [{"id": h.key, "question": h.question, "score": h.score} for h in kb.search(q, k)]}


@router.get("/search")
async def search(
    kb: KbDep, q: Annotated[str, Query(max_length=10_000)] = "", k: Annotated[int, Query(ge=1, le=50)] = 5
) -> dict:
    """Ranked published entries for a question: ``{"results": [{"id", "question", "score"}]}``, score 0..1."""
    return search_results(kb, q, k)


@router.get("/answers/{key}")
async def published_answer(key: str, session: SessionDep) -> dict:
    e = await service.get_entry(session, key)
    if e.published_doc is None:
        raise NotFound("知识条目")
    return {"id": e.key, **e.published_doc}


@router.get("/guides/{item_code}")
async def item_guide(item_code: str, kb: KbDep) -> dict:
    g = kb.guides.get(item_code)
    if g is None:
        raise NotFound("事项")
    return g


class FeedbackIn(BaseModel):
    useful: bool
    comment: str | None = Field(default=None, max_length=500)


@router.post("/answers/{key}/feedback")
async def answer_feedback(
    key: str, body: FeedbackIn, session: SessionDep, state: StateDep, info: InfoDep, now: NowDep
) -> dict:
    if not await state.limiter.hit(f"kbfeedback:{info.ip}", limit=60, window_seconds=60):
        raise TooManyRequests("操作太频繁，请稍后再试")
    e = await service.feedback(session, key, body.useful, now, comment=body.comment)
    return {"id": e.key, "recorded": True}


# ------------------------------------------------------------------------------------------ curation


class EntryIn(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=4000)
    similar: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=100)
    item_code: str | None = None
    tags: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=20)


class EntryPatch(BaseModel):
    question: str | None = Field(default=None, min_length=1, max_length=500)
    answer: str | None = Field(default=None, min_length=1, max_length=4000)
    similar: list[Annotated[str, Field(max_length=500)]] | None = Field(default=None, max_length=100)
    item_code: str | None = None
    tags: list[Annotated[str, Field(max_length=32)]] | None = Field(default=None, max_length=20)
    expected_version: int | None = None


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=1000)


async def _commit_and_refresh(request: Request, session: SessionDep) -> None:
    await session.commit()
    await kb_of(request).refresh(request.app.state.weijian.read_sessions, force=True)


@router.get("/entries")
async def list_entries(
    _: AgentDep,
    session: SessionDep,
    status: Literal["draft", "in_review", "published", "archived"] | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    total, rows = await service.list_entries(session, status, q, limit, offset)
    return {"total": total, "entries": [service.entry_view(e, full=False) for e in rows]}


@router.post("/entries", status_code=201)
async def create_entry(body: EntryIn, who: AgentDep, session: SessionDep, now: NowDep) -> dict:
    e = await service.create(session, body.model_dump(), who, now)
    return service.entry_view(e)


@router.get("/entries/{key}")
async def get_entry(key: str, _: AgentDep, session: SessionDep) -> dict:
    return service.entry_view(await service.get_entry(session, key))


@router.patch("/entries/{key}")
async def edit_entry(key: str, body: EntryPatch, who: AgentDep, session: SessionDep, now: NowDep) -> dict:
    data = body.model_dump(exclude_unset=True)
    expected = data.pop("expected_version", None)
    return service.entry_view(await service.edit(session, key, data, who, now, expected))


@router.post("/entries/{key}/submit")
async def submit_entry(key: str, who: AgentDep, session: SessionDep, now: NowDep) -> dict:
    return service.entry_view(await service.submit(session, key, who, now))


@router.post("/entries/{key}/publish")
async def publish_entry(key: str, who: AgentDep, session: SessionDep, now: NowDep, request: Request) -> dict:
    e = await service.publish(session, key, who, now)
    view = service.entry_view(e)
    await _commit_and_refresh(request, session)
    return view


@router.post("/entries/{key}/reject")
async def reject_entry(key: str, body: NoteIn, who: AgentDep, session: SessionDep, now: NowDep) -> dict:
    return service.entry_view(await service.reject(session, key, who, now, body.note))


@router.post("/entries/{key}/archive")
async def archive_entry(key: str, who: AgentDep, session: SessionDep, now: NowDep, request: Request) -> dict:
    view = service.entry_view(await service.archive(session, key, who, now))
    await _commit_and_refresh(request, session)
    return view


@router.get("/entries/{key}/history")
async def entry_history(key: str, _: AgentDep, session: SessionDep) -> dict:
    return {"id": key, "versions": await service.history(session, key)}


class HitTestIn(BaseModel):
    q: str = Field(max_length=10_000)
    k: int = Field(default=10, ge=1, le=50)


@router.post("/hit-test")
async def hit_test(body: HitTestIn, _: AgentDep, kb: KbDep, state: StateDep) -> dict:
    """What the bot would do with a question: the ranked entries with scores and the decision the thresholds
    give (answer / suggest / fallback)."""
    hits = kb.search(body.q, body.k)
    s = state.settings
    top = hits[0].score if hits else 0.0
    decision = "answer" if top >= s.kb_answer_threshold else "suggest" if top >= s.kb_suggest_threshold else "fallback"
    return {
        "decision": decision,
        "thresholds": {"answer": s.kb_answer_threshold, "suggest": s.kb_suggest_threshold},
        "results": [{"id": h.key, "question": h.question, "score": h.score, "item_code": h.item_code} for h in hits],
    }


@router.get("/synonyms")
async def list_synonyms(_: AgentDep, session: SessionDep) -> dict:
    return {"synonyms": [{"term": t, "canonical": c} for t, c in await service.synonyms(session)]}


class SynonymIn(BaseModel):
    term: str = Field(min_length=1, max_length=64)
    canonical: str = Field(min_length=1, max_length=64)


@router.put("/synonyms")
async def put_synonym(body: SynonymIn, _: AgentDep, session: SessionDep, now: NowDep, request: Request) -> dict:
    await service.put_synonym(session, body.term, body.canonical, now)
    await _commit_and_refresh(request, session)
    return {"term": body.term, "canonical": body.canonical}


@router.delete("/synonyms/{term}", status_code=204)
async def delete_synonym(term: str, _: AgentDep, session: SessionDep, now: NowDep, request: Request) -> Response:
    await service.delete_synonym(session, term, now)
    await _commit_and_refresh(request, session)
    return Response(status_code=204)


@router.get("/unanswered")
async def unanswered(
    _: AgentDep,
    session: SessionDep,
    status: Literal["open", "resolved", "dismissed"] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    rows = await service.unanswered(session, status, limit, offset)
    return {"questions": [service.unanswered_view(r) for r in rows]}


class ResolveIn(BaseModel):
    """Exactly one way: ``dismiss``; ``id`` of an entry to add the question to; or a new entry's ``answer``."""

    dismiss: bool = False
    id: str | None = None
    answer: str | None = Field(default=None, min_length=1, max_length=4000)
    item_code: str | None = None
    tags: list[Annotated[str, Field(max_length=32)]] | None = None


@router.post("/unanswered/{row_id}/resolve")
async def resolve(row_id: int, body: ResolveIn, who: AgentDep, session: SessionDep, now: NowDep) -> dict:
    data = body.model_dump(exclude_unset=True, exclude={"dismiss", "id"})
    if not body.dismiss and not body.id and not body.answer:
        raise ValidationFailed("请填写答案，或选择要补充的已有条目", fields={"answer": "必填"})
    e = await service.resolve_unanswered(session, row_id, who, now, key=body.id, data=data, dismiss=body.dismiss)
    return {"resolved": True, "entry": service.entry_view(e) if e else None}


@router.post("/import")
async def import_yaml(request: Request, who: AgentDep, session: SessionDep, now: NowDep, publish: bool = False) -> dict:
    """Import YAML sent as the request body (seed or Rasa ``faq/<key>`` format). Entries land as drafts unless a
    reviewer imports with ``publish=true``."""
    if publish and not who.has(Role.KB_REVIEWER):
        raise Forbidden("只有审核人可以直接发布导入的条目")
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("导入文件过大（上限5MB）")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KbFileInvalid(["文件不是UTF-8编码"]) from exc
    report = await service.import_file(session, parse(text), now, actor=who, publish=publish)
    await _commit_and_refresh(request, session)
    return report


@router.get("/export")
async def export_yaml(
    _: AgentDep, session: SessionDep, format: Literal["seed", "rasa"] = "seed", published_only: bool = True
) -> Response:
    entries = await service.export_entries(session, published_only=published_only)
    body = dump_rasa(entries) if format == "rasa" else dump_seed(entries, await service.synonyms(session))
    return Response(body, media_type="application/yaml; charset=utf-8")
