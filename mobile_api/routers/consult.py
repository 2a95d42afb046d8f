"""Consultation agents take over what the bot cannot handle (6.7.6 在线咨询): the handoff queue, claiming a
conversation with its transcript, replying (delivered on the applicant's channel), closing (the applicant is
then asked to rate the consultation). Needs the ``consult_agent`` role.

Live: handoffs, claims and closes are pushed to every agent's socket (topic ``consult``), so queues update
without polling; see mobile_api/consult.py."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from bot import conversations as convs
from case_core.domain.errors import Forbidden
from case_core.domain.states import Role
from case_core.principals import StaffPrincipal
from mobile_api.consult import consult_of
from mobile_api.deps import CurrentStaff, NowDep, SessionDep

router = APIRouter(prefix="/consult", tags=["consultation"])


async def agent(staff: CurrentStaff) -> StaffPrincipal:
    if not staff.has(Role.CONSULT_AGENT):
        raise Forbidden("只有咨询坐席可以处理咨询会话")
    return staff


AgentDep = Annotated[StaffPrincipal, Depends(agent)]


@router.get("/conversations")
async def queue(
    who: AgentDep,
    session: SessionDep,
    state: Literal["waiting_human", "human", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict:
    """Without ``state``: every waiting conversation (oldest handoff first) and the agent's own open ones."""
    rows = await convs.queue(session, who, state, limit)
    return {"conversations": [{**convs.conversation_view(c), "messages": n} for c, n in rows]}


@router.get("/conversations/{conv_id}")
async def conversation(
    conv_id: int, who: AgentDep, session: SessionDep, after_id: Annotated[int, Query(ge=0)] = 0
) -> dict:
    """The conversation with its transcript (``after_id`` for the lines after one already shown)."""
    conv = await convs.for_agent(session, conv_id, who)
    lines = await convs.transcript(session, conv_id, after_id=after_id)
    return {**convs.conversation_view(conv), "transcript": [convs.message_view(m) for m in lines]}


@router.post("/conversations/{conv_id}/claim")
async def claim(conv_id: int, who: AgentDep, session: SessionDep, now: NowDep, request: Request) -> dict:
    conv = await convs.claim(session, conv_id, who, now)
    consult = consult_of(request.app)
    joined = consult.engine.utter("utter_agent_joined", custom={"type": "agent_joined", "agent_id": who.id})
    msg = convs.add_message(session, conv, "bot", now, text=joined["text"], data=joined, delivered=False)
    await session.commit()
    await consult.deliver(conv_id, [msg.id])
    await consult.notify(conv, "claimed")
    lines = await convs.transcript(session, conv_id)
    return {**convs.conversation_view(conv), "transcript": [convs.message_view(m) for m in lines]}


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


@router.post("/conversations/{conv_id}/messages", status_code=201)
async def reply(conv_id: int, body: ReplyIn, who: AgentDep, session: SessionDep, now: NowDep, request: Request) -> dict:
    _, msg = await convs.reply(session, conv_id, who, body.text.strip() or body.text, now)
    view = convs.message_view(msg)
    await session.commit()
    # true: handed to the applicant's channel here; false: they are not connected (the REST channel or a reconnect
    # hands it out later); null: pushed to the other workers, one of which may hold the applicant's chat socket.
    sent = await consult_of(request.app).deliver(conv_id, [msg.id])
    view["delivered"] = None if sent is None else sent > 0
    return view


@router.post("/conversations/{conv_id}/close")
async def close(conv_id: int, who: AgentDep, session: SessionDep, now: NowDep, request: Request) -> dict:
    consult = consult_of(request.app)
    conv, msg = await convs.close(session, conv_id, who, now, consult.engine.rating_prompt())
    view = convs.conversation_view(conv)
    await session.commit()
    await consult.deliver(conv_id, [msg.id])
    await consult.notify(conv, "closed")
    return view
