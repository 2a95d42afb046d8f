"""The bot's NLU: Rasa-format training data, the intents and entities the issue asks for, the classifier."""

from __future__ import annotations

import numpy as np
import pytest

from bot.evaluate import evaluate
from bot.nlu import Nlu
from bot.training import load_domain, load_nlu, load_rules, parse_example

REQUIRED_INTENTS = {
    "greet",
    "goodbye",
    "thank",
    "ask_guide",
    "ask_materials",
    "ask_time_limit",
    "ask_fee",
    "ask_where",
    "query_progress",
    "request_human",
    "complain",
    "out_of_scope",
}
ITEMS = {"GD-WJ-XK-0003": "护士执业注册（首次注册）", "GD-WJ-GG-0001": "出生医学证明补发"}


# Under pytest -n (scripts/test) the module's tests stay on one worker, which builds the module fixture once.
pytestmark = pytest.mark.xdist_group("nlu")


@pytest.fixture(scope="module")
def nlu() -> Nlu:
    return Nlu(item_names=ITEMS)


def test_training_data_domain_and_rules_agree() -> None:
    data, domain, rules = load_nlu(), load_domain(), load_rules()
    intents = {e.intent for e in data.examples}
    assert intents == REQUIRED_INTENTS == set(domain.intents)
    assert {"serial_no", "service_item"} <= set(domain.entities)
    for rule in rules:
        for action in rule.actions:
            assert not action.startswith("utter_") or action in domain.responses, action
    assert all(i in {x for r in rules for x in r.intents} for i in REQUIRED_INTENTS)


def test_entity_annotations_are_stripped_and_kept_as_spans() -> None:
    ex = parse_example("[护士注册](service_item)要带什么", "ask_materials")
    assert ex.text == "护士注册要带什么"
    assert ex.entities == (("service_item", "护士注册", 0, 4),)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("你好", "greet"),
        ("护士注册要带哪些材料", "ask_materials"),
        ("办好要多久", "ask_time_limit"),
        ("要交钱吗", "ask_fee"),
        ("转人工", "request_human"),
        ("我的办件到哪一步了", "query_progress"),
    ],
)
def test_common_questions_get_their_intent(nlu: Nlu, text: str, intent: str) -> None:
    result = nlu.parse(text)
    assert result["intent"]["name"] == intent
    assert result["intent_ranking"][0] == result["intent"]


def test_serial_numbers_and_service_items_are_extracted(nlu: Nlu) -> None:
    result = nlu.parse("护士注册的 WJ-20260105-000012-8 到哪了")
    ents = {e["entity"]: e for e in result["entities"]}
    assert ents["serial_no"]["value"] == "WJ202601050000128"
    assert ents["service_item"]["value"] == "GD-WJ-XK-0003"  # the lookup maps to the item code
    assert result["text"][ents["service_item"]["start"] : ents["service_item"]["end"]] == "护士注册"


def test_the_catalogue_item_names_are_a_lookup_too(nlu: Nlu) -> None:
    ents = nlu.parse("出生医学证明补发要多久")["entities"]
    assert [e["value"] for e in ents if e["entity"] == "service_item"] == ["GD-WJ-GG-0001"]


@pytest.mark.parametrize("text", ["", "😀😀😀", "？？？"])
def test_text_without_words_falls_back(nlu: Nlu, text: str) -> None:
    assert nlu.parse(text)["intent"]["name"] == "nlu_fallback"


def test_cross_validated_intent_accuracy_is_reported_and_above_80_percent() -> None:
    result = evaluate(folds=5)
    assert result["examples"] >= 300 and result["intents"] == 12
    assert result["accuracy"] >= 0.8
    assert set(result["per_intent_f1"]) == REQUIRED_INTENTS


def test_the_fast_inference_gives_scikit_learns_probabilities(nlu: Nlu) -> None:
    """Inference is computed from the fitted vocabularies and weights, not through the pipeline: the same numbers
    on every third training example and on text the model never saw (typos, serial numbers, other scripts)."""
    texts = [e.text for e in nlu.data.examples[::3]] + [
        "护仕注册要带啥",
        "WJ-20260105-000012-8 到哪了",
        "hello 你好",
        "zzz",
    ]
    for text in texts:
        prepared = nlu.prepare(text)
        assert np.abs(nlu.predict_proba(prepared) - nlu.predict_proba_sklearn(prepared)).max() < 1e-9, text


def test_a_repeated_text_is_parsed_from_the_cache_and_callers_cannot_spoil_it(nlu: Nlu) -> None:
    first = nlu.parse("护士注册要带哪些材料")
    first["intent"]["name"] = "spoiled"
    first["intent_ranking"].clear()
    again = nlu.parse("护士注册要带哪些材料 ")  # the same normalised text
    assert again["intent"]["name"] == "ask_materials" and again["intent_ranking"]
    assert nlu._ranking.cache_info().hits >= 1  # type: ignore[attr-defined]
