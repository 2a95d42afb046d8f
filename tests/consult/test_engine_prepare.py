"""What a turn computes before it takes the conversation's lock and opens its transaction (``Engine.prepare``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import bot.engine
from bot.engine import Engine, Thresholds
from knowledge_base.runtime import KnowledgeBase
from mobile_api.consult import nlu_for

# Under pytest -n (scripts/test) the module's tests stay on one worker, which builds the module fixture once.
pytestmark = pytest.mark.xdist_group("engine-prepare")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(KnowledgeBase(), nlu_for, Thresholds(0.6, 0.3, 2))


def test_a_question_is_parsed_and_searched_up_front_and_a_greeting_is_not_searched(engine: Engine) -> None:
    question = engine.prepare("护士注册要带什么材料")
    assert question.parsed is not None and question.wants_search and "护士注册要带什么材料" in question.hits
    hello = engine.prepare("你好")
    assert hello.parsed is not None and hello.parsed["intent"]["name"] == "greet"
    assert not hello.wants_search and hello.hits == {}
    # Payloads and numbered choices depend on the conversation: nothing is guessed for them.
    for text in ('/choose_faq{"faq_id":"faq-0001"}', "2"):
        assert engine.prepare(text).parsed is None


async def test_a_large_knowledge_base_is_searched_off_the_event_loop(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    search = engine.kb.search

    def spy(query: str, k: int = 5) -> Any:
        threads.append(threading.get_ident())
        return search(query, k)

    monkeypatch.setattr(engine.kb, "search", spy)
    await engine.prepare_async("护士注册要多久")  # a small index: searched right here
    monkeypatch.setattr(bot.engine, "BIG_INDEX", -1)  # as if it had more entries than the limit
    await engine.prepare_async("医师注册要多久")
    assert threads[0] == threading.get_ident() and threads[1] != threading.get_ident()
