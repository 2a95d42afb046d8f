"""The dialogue engine: one turn = the applicant's message in, the bot's messages out (Rasa's shape without
``recipient_id``), the conversation's state and transcript updated in the caller's transaction.

Order of a turn: rating payloads for a just-closed conversation; conversations with a person (the bot stays
quiet); input checks (empty, too long); ``/intent{...}`` payloads skip NLU; a numbered choice ("1") picks a
button (WeChat has no buttons, so there they are numbered lines); the active form; then the rules of rules.yml.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import conversations as convs
from bot import progress
from bot.models import Conversation, ConversationMessage
from bot.nlu import FALLBACK_INTENT, Nlu
from bot.training import Domain, Rule, load_domain, load_rules
from case_core.domain import serial
from knowledge_base import guides
from knowledge_base import service as kb_service
from knowledge_base.index import Hit
from knowledge_base.runtime import KnowledgeBase

MAX_MESSAGE_CHARS = 2000
BIG_INDEX = 2000  # published entries above which a search leaves the event loop (Engine.prepare_async)
FORM_MAX_ATTEMPTS = 2
ASPECT_OF_INTENT = {
    "ask_materials": "materials",
    "ask_time_limit": "time_limit",
    "ask_fee": "fee",
    "ask_where": "where",
    "ask_guide": "summary",
}
BREAKING_INTENTS = ("request_human", "goodbye", "greet", "complain", "thank")
_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_][\w./-]*)(?P<json>\{.*\})?$", re.DOTALL)
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
RATING_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


def redact(text: str) -> str:
    """ID numbers and mobile numbers typed into the chat are kept masked in the transcript."""
    text = _ID_NUMBER.sub(lambda m: m.group(0)[:4] + "*" * 10 + m.group(0)[-4:], text)
    return _MOBILE.sub(lambda m: m.group(0)[:3] + "****" + m.group(0)[-4:], text)


def payload(intent: str, **entities: Any) -> str:
    return f"/{intent}" + (json.dumps(entities, ensure_ascii=False, separators=(",", ":")) if entities else "")


@dataclass
class Turn:
    conversation: Conversation
    messages: list[dict[str, Any]] = field(default_factory=list)
    handed_over: bool = False
    stored: list[ConversationMessage] = field(default_factory=list)
    pending: list[ConversationMessage] = field(default_factory=list)  # undelivered before this turn (REST)
    event: str | None = None  # what the agents should hear of: "handoff", "message" (to a person), "rated"


@dataclass
class Prepared:
    """What a turn computes from the text alone — the payload, the NLU parse, the knowledge-base hits — done
    before the turn takes its locks and opens its transaction (``Engine.prepare``), so CPU work never holds the
    conversation or the database. Whatever the conversation's state turns out to need and was not foreseen is
    computed on demand."""

    text: str
    stripped: str
    payload: dict[str, Any] | None
    parsed: dict[str, Any] | None = None
    wants_search: bool = False
    hits: dict[str, list[Hit]] = field(default_factory=dict)

    def search(self, kb: KnowledgeBase, query: str) -> list[Hit]:
        if query not in self.hits:
            self.hits[query] = kb.search(query, 3)
        return self.hits[query]


@dataclass
class Thresholds:
    answer: float
    suggest: float
    handoff_after_failures: int


class Engine:
    def __init__(
        self,
        kb: KnowledgeBase,
        nlu_factory: Callable[[dict[str, str]], Nlu],
        thresholds: Thresholds,
        encrypt: Callable[[str], str] | None = None,
    ) -> None:
        self.kb = kb
        self.domain: Domain = load_domain()
        self.rules: list[Rule] = load_rules()
        self.thresholds = thresholds
        self._nlu_factory = nlu_factory
        self._nlu: Nlu | None = None
        self._nlu_items: dict[str, str] | None = None
        self.encrypt = encrypt

    @property
    def nlu(self) -> Nlu:
        items = self.kb.item_names
        if self._nlu is None or self._nlu_items != items:
            self._nlu, self._nlu_items = self._nlu_factory(items), dict(items)
        return self._nlu

    def parse(self, text: str) -> dict[str, Any]:
        """Rasa's /model/parse: payloads are parsed as payloads, everything else by the NLU."""
        parsed = self._parse_payload(text)
        return parsed if parsed is not None else self.nlu.parse(text)

    @staticmethod
    def _parse_payload(text: str) -> dict[str, Any] | None:
        m = _PAYLOAD.match(text.strip())
        if not m:
            return None
        try:
            raw = json.loads(m.group("json")) if m.group("json") else {}
        except ValueError:
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        entities = [{"entity": str(k), "value": v, "extractor": "payload"} for k, v in raw.items()]
        intent = {"name": m.group("intent"), "confidence": 1.0}
        return {"text": text, "intent": intent, "entities": entities, "intent_ranking": [intent]}

    def utter(self, name: str, **extra: Any) -> dict[str, Any]:
        return {"text": self.domain.text(name), **extra}

    def _rule(self, intent: str) -> Rule:
        rule = next((r for r in self.rules if intent in r.intents and r.condition_loop is None), None)
        if rule is None:  # an intent without a rule (or an unknown payload): let the knowledge base try
            rule = next(r for r in self.rules if FALLBACK_INTENT in r.intents)
        return rule

    def prepare(self, text: str, *, search: bool = True) -> Prepared:
        """The text's parse, and its knowledge-base hits when its intent's rule answers from the knowledge base
        (``search=False``: only say so, in ``Prepared.wants_search``)."""
        text = text or ""
        stripped = text.strip()
        prep = Prepared(text, stripped, self._parse_payload(stripped))
        if prep.payload is None and stripped and len(stripped) <= MAX_MESSAGE_CHARS and not stripped.isdigit():
            prep.parsed = self.nlu.parse(stripped)
            prep.wants_search = "action_answer" in self._rule(str(prep.parsed["intent"]["name"])).actions
            if prep.wants_search and search:
                prep.search(self.kb, stripped)
        return prep

    async def prepare_async(self, text: str) -> Prepared:
        """``prepare`` for the event loop: the NLU (well under a millisecond, and cached) runs here; a search of a
        large knowledge base (milliseconds at 10,000 entries) runs in a thread, so other requests are not held up
        behind it."""
        prep = self.prepare(text, search=False)
        if prep.wants_search:
            if len(self.kb.index) > BIG_INDEX:
                await asyncio.to_thread(prep.search, self.kb, prep.stripped)
            else:
                prep.search(self.kb, prep.stripped)
        return prep

    # ------------------------------------------------------------------------------------------ the turn

    async def turn(
        self,
        session: AsyncSession,
        *,
        channel: str,
        sender: str,
        text: str,
        applicant_id: int | None,
        now: datetime,
        prepared: Prepared | None = None,
        with_pending: bool = False,
    ) -> Turn:
        """The turn's reads are one statement (the open conversation, with its undelivered messages when
        ``with_pending``); its writes — the applicant's message, the bot's, the conversation's new state — go out
        in the caller's one flush."""
        prep = prepared or self.prepare(text)
        text, stripped = prep.text, prep.stripped
        if prep.payload and prep.payload["intent"]["name"] == "rate":
            closed = await convs.last_closed_unrated(session, channel, sender, now)
            if closed is not None:
                return await self._rate(session, closed, prep.payload, text, now)
        conv, pending = await convs.load_open(session, channel, sender, with_pending=with_pending)
        if conv is None:
            conv = convs.start(session, channel, sender, applicant_id, now)
        elif applicant_id is not None and conv.applicant_id is None:
            conv.applicant_id = applicant_id
        stored = redact(text)
        data = {"enc": self.encrypt(text)} if self.encrypt and stored != text else None
        convs.add_message(session, conv, "user", now, text=stored, data=data)
        conv.updated_at = now
        turn = Turn(conv, pending=pending)
        if conv.state == "waiting_human":
            turn.messages.append(self.utter("utter_waiting_human"))
            turn.event = "message"
        elif conv.state == "human":
            turn.event = "message"  # the agent answers; the bot stays out of it
        elif not stripped:
            turn.messages.append(self.utter("utter_empty"))
        elif len(stripped) > MAX_MESSAGE_CHARS:
            turn.messages.append(self.utter("utter_too_long"))
        else:
            await self._bot_turn(session, turn, prep, now)
        turn.stored = [convs.add_message(session, conv, "bot", now, text=m.get("text"), data=m) for m in turn.messages]
        choices = [b["payload"] for m in turn.messages for b in m.get("buttons", [])]
        if choices or conv.slots.get("choices"):
            conv.slots = {**conv.slots, "choices": choices}
        return turn

    async def _rate(
        self, session: AsyncSession, conv: Conversation, parsed: dict[str, Any], text: str, now: datetime
    ) -> Turn:
        ents = {e["entity"]: e["value"] for e in parsed["entities"]}
        try:
            score = int(ents.get("score", 0))
        except (TypeError, ValueError):
            score = 0
        convs.rate(conv, score, ents.get("comment"), now)
        convs.add_message(session, conv, "user", now, text=text)
        reply = self.utter("utter_rating_thanks")
        convs.add_message(session, conv, "bot", now, text=reply["text"], data=reply)
        return Turn(conv, [reply], event="rated")

    async def _bot_turn(self, session: AsyncSession, turn: Turn, prep: Prepared, now: datetime) -> None:
        conv = turn.conversation
        text, parsed = prep.stripped, prep.payload
        choices = conv.slots.get("choices") or []
        if parsed is None and text.isdigit() and 1 <= int(text) <= len(choices):
            parsed = self._parse_payload(choices[int(text) - 1])
        if parsed is None:
            if prep.parsed is None:
                prep.parsed = self.nlu.parse(text)
            parsed = prep.parsed
        intent = str(parsed["intent"]["name"])
        confidence = float(parsed["intent"]["confidence"])
        entities = {e["entity"]: e["value"] for e in parsed["entities"]}
        slots = dict(conv.slots)
        if "service_item" in entities:
            slots["service_item"] = str(entities["service_item"])
        conv.slots = slots

        if intent == "choose_faq":
            await self._answer_entry(session, turn, str(entities.get("faq_id", "")), None)
            return
        if intent == "feedback":
            await self._feedback(session, turn, entities, now)
            return
        if intent == "rate":
            turn.messages.append({"text": "会话结束后才能评价，感谢您的支持。"})
            return
        if slots.get("active_loop") == "query_progress_form" and await self._progress_form(
            session, turn, text, intent, confidence, entities
        ):
            return
        for action in self._rule(intent).actions:
            await self._run(session, turn, prep, action, text, intent, confidence, entities, now)

    async def _run(
        self,
        session: AsyncSession,
        turn: Turn,
        prep: Prepared,
        action: str,
        text: str,
        intent: str,
        confidence: float,
        entities: dict[str, Any],
        now: datetime,
    ) -> None:
        if action.startswith("utter_"):
            turn.messages.append(self.utter(action))
        elif action == "action_answer":
            await self._answer(session, turn, prep, text, intent, confidence, entities, now)
        elif action == "query_progress_form":
            await self._start_progress(session, turn, entities)
        elif action == "action_handoff":
            self._handoff(
                turn, "complaint" if intent == "complain" else "requested", now, announce=intent != "complain"
            )
        else:
            raise ValueError(f"unknown action {action}")

    # ------------------------------------------------------------------------------------------ answers

    async def _answer(
        self,
        session: AsyncSession,
        turn: Turn,
        prep: Prepared,
        text: str,
        intent: str,
        confidence: float,
        entities: dict[str, Any],
        now: datetime,
    ) -> None:
        conv = turn.conversation
        t = self.thresholds
        item = entities.get("service_item")
        aspect = ASPECT_OF_INTENT.get(intent) if confidence >= 0.5 else None
        if aspect and item is None and conv.slots.get("service_item"):
            item = conv.slots["service_item"]  # "要多久？" after "护士注册要什么材料": the same item
        query = text if not text.startswith("/") else ""
        hits = prep.search(self.kb, query) if query else []
        top = hits[0] if hits else None
        # A named item's guide answers its materials, time limit, fee and place (it never disagrees with the
        # catalogue), so a KB entry of another item does not override those. A general question about an item
        # ("怎么办") is different: an entry that fits it well says more than the item's overview, even when the
        # words looked up another item (护士证过期了怎么办: 护士证 finds first registration; the entry on an expired
        # licence belongs to renewal).
        if top and top.score >= t.answer and (item is None or top.item_code in (None, item) or aspect == "summary"):
            await self._answer_entry(session, turn, top.key, top.score)
            return
        if aspect and item and item in self.kb.guides:
            g = self.kb.guides[item]
            turn.messages.append(
                {"text": guides.answer(g, aspect), "custom": {"type": "guide", "item_code": item, "aspect": aspect}}
            )
            conv.failures = 0
            return
        if top and top.score >= t.suggest:
            buttons = [
                {"title": h.question, "payload": payload("choose_faq", faq_id=h.key)}
                for h in hits
                if h.score >= t.suggest
            ]
            buttons.append({"title": "都不是，转人工", "payload": payload("request_human")})
            turn.messages.append(
                self.utter(
                    "utter_suggest", buttons=buttons, custom={"type": "suggestions", "scores": [h.score for h in hits]}
                )
            )
            return
        if aspect and item is None:
            buttons = [
                {"title": name, "payload": payload(intent, service_item=code)}
                for code, name in self.kb.item_names.items()
            ]
            turn.messages.append(self.utter("utter_which_item", buttons=buttons))
            return
        await self._fallback(session, turn, query, intent, top.key if top else None, top.score if top else None, now)

    async def _fallback(
        self,
        session: AsyncSession,
        turn: Turn,
        query: str,
        intent: str,
        best_key: str | None,
        best_score: float | None,
        now: datetime,
    ) -> None:
        conv = turn.conversation
        if query and re.search(r"[0-9A-Za-z\u4e00-\u9fff]", query):
            await kb_service.log_unanswered(session, redact(query), best_key, best_score, now)
        conv.failures += 1
        if conv.failures >= self.thresholds.handoff_after_failures:
            self._handoff(turn, "bot_failed", now)
            return
        name = "utter_out_of_scope" if intent == "out_of_scope" else "utter_default"
        turn.messages.append(self.utter(name, buttons=[{"title": "转人工客服", "payload": payload("request_human")}]))

    async def _answer_entry(self, session: AsyncSession, turn: Turn, key: str, score: float | None) -> None:
        doc = self.kb.index.by_key.get(key)
        if doc is None:
            turn.messages.append({"text": "该问题的答案已更新或下线，请重新提问。"})
            return
        await kb_service.count_hit(session, key)
        turn.conversation.failures = 0
        turn.messages.append(
            {
                "text": doc.answer,
                "buttons": [
                    {"title": "有帮助", "payload": payload("feedback", faq_id=key, useful=True)},
                    {"title": "没帮助", "payload": payload("feedback", faq_id=key, useful=False)},
                ],
                "custom": {"type": "kb_answer", "faq_id": key, "question": doc.question, "score": score},
            }
        )

    async def _feedback(self, session: AsyncSession, turn: Turn, entities: dict[str, Any], now: datetime) -> None:
        key = str(entities.get("faq_id", ""))
        useful = entities.get("useful") is True
        if key in self.kb.index.by_key:
            await kb_service.feedback(session, key, useful, now, conversation_id=turn.conversation.id)
        msg = self.utter("utter_feedback_thanks")
        if not useful:
            msg["buttons"] = [{"title": "转人工客服", "payload": payload("request_human")}]
        turn.messages.append(msg)

    # ------------------------------------------------------------------------------------------ progress form

    async def _start_progress(self, session: AsyncSession, turn: Turn, entities: dict[str, Any]) -> None:
        conv = turn.conversation
        if conv.applicant_id is None:
            turn.messages.append(self.utter("utter_login_required"))
            return
        if "serial_no" in entities:
            await self._lookup(session, turn, str(entities["serial_no"]))
            return
        conv.slots = {**conv.slots, "active_loop": "query_progress_form", "form_attempts": 0}
        own = await progress.own_open_serials(session, conv.applicant_id)
        buttons = [{"title": f"{s}（{name}）", "payload": payload("query_progress", serial_no=s)} for s, name in own]
        turn.messages.append(self.utter("utter_ask_serial_no", **({"buttons": buttons} if buttons else {})))

    async def _progress_form(
        self, session: AsyncSession, turn: Turn, text: str, intent: str, confidence: float, entities: dict[str, Any]
    ) -> bool:
        """True when the form consumed the message."""
        conv = turn.conversation
        if "serial_no" in entities:
            self._end_form(conv)
            await self._lookup(session, turn, str(entities["serial_no"]))
            return True
        if intent in BREAKING_INTENTS and confidence >= 0.6:
            self._end_form(conv)
            return False
        attempts = int(conv.slots.get("form_attempts", 0)) + 1
        if attempts >= FORM_MAX_ATTEMPTS + 1:
            self._end_form(conv)
            turn.messages.append(self.utter("utter_form_abandoned"))
            return True
        conv.slots = {**conv.slots, "form_attempts": attempts}
        looks_like_serial = re.search(r"wj", text, re.IGNORECASE) is not None
        turn.messages.append(self.utter("utter_serial_invalid" if looks_like_serial else "utter_ask_serial_no"))
        return True

    @staticmethod
    def _end_form(conv: Conversation) -> None:
        conv.slots = {k: v for k, v in conv.slots.items() if k not in ("active_loop", "form_attempts")}

    async def _lookup(self, session: AsyncSession, turn: Turn, serial_no: str) -> None:
        conv = turn.conversation
        serial_no = serial.normalize(serial_no)
        if not serial.is_valid_serial(serial_no):
            turn.messages.append(self.utter("utter_serial_invalid"))
            conv.slots = {
                **conv.slots,
                "active_loop": "query_progress_form",
                "form_attempts": int(conv.slots.get("form_attempts", 0)),
            }
            return
        if conv.applicant_id is None:
            turn.messages.append(self.utter("utter_login_required"))
            return
        answer = await progress.describe(session, conv.applicant_id, serial_no)
        conv.failures = 0
        if answer is None:
            turn.messages.append(self.utter("utter_case_not_found"))
        else:
            turn.messages.append({"text": answer, "custom": {"type": "progress", "serial_no": serial_no}})

    # ------------------------------------------------------------------------------------------ handoff

    def _handoff(self, turn: Turn, reason: str, now: datetime, announce: bool = True) -> None:
        conv = turn.conversation
        if conv.state == "bot":
            convs.hand_over(conv, reason, now)
            turn.handed_over, turn.event = True, "handoff"
        if announce:
            turn.messages.append(self.utter("utter_handoff", custom={"type": "handoff", "reason": reason}))

    def rating_prompt(self) -> dict[str, Any]:
        return self.utter(
            "utter_ask_rating",
            buttons=[
                {"title": label, "payload": payload("rate", score=score)} for score, label in RATING_LABELS.items()
            ],
            custom={"type": "rating_request"},
        )
