"""`weijian bot evaluate [--folds 5] [--json]`: cross-validated intent accuracy of the training data."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.evaluate import evaluate
from case_core.settings import Settings


def add_parser(sub: Any) -> None:
    bot = sub.add_parser("bot", help="the consultation bot")
    botsub = bot.add_subparsers(dest="bot_command", required=True)
    ev = botsub.add_parser("evaluate", help="cross-validated intent accuracy of bot/data/nlu.yml")
    ev.add_argument("--folds", type=int, default=5)
    ev.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings: Settings) -> int:
    result = evaluate(args.folds)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"{result['examples']} examples, {result['intents']} intents, {result['folds']}-fold cross-validation")
    print(f"intent accuracy: {result['accuracy']:.1%}")
    for intent, f1 in sorted(result["per_intent_f1"].items()):
        print(f"  {intent:<16} F1 {f1:.3f}")
    if result["errors"]:
        print("misclassified:")
        for e in result["errors"]:
            print(f"  {e['text']}  ({e['intent']} → {e['predicted']})")
    return 0
