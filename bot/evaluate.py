"""Cross-validated intent accuracy of the NLU (`weijian bot evaluate`): stratified k-fold over nlu.yml, the
same pipeline as in service, a fresh fit per fold."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sklearn.metrics import classification_report
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from bot.nlu import EntityExtractor, make_pipeline
from bot.training import TrainingData, load_nlu
from knowledge_base.text import normalize


def evaluate(folds: int = 5, data: TrainingData | None = None, seed: int = 0) -> dict[str, Any]:
    data = data or load_nlu()
    extractor = EntityExtractor(data)
    texts = []
    for e in data.examples:
        t = normalize(e.text)
        for p in extractor.serial_patterns:
            t = p.sub(" 流水号 ", t)
        texts.append(t)
    labels = [e.intent for e in data.examples]
    smallest = min(Counter(labels).values())
    folds = max(2, min(folds, smallest))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(make_pipeline(), texts, labels, cv=cv)
    accuracy = float(np.mean(np.array(predicted) == np.array(labels)))
    report = classification_report(labels, predicted, output_dict=True, zero_division=0)
    errors = [
        {"text": data.examples[i].text, "intent": labels[i], "predicted": str(predicted[i])}
        for i in range(len(labels))
        if predicted[i] != labels[i]
    ]
    return {
        "examples": len(labels),
        "intents": len(set(labels)),
        "folds": folds,
        "accuracy": round(accuracy, 4),
        "per_intent_f1": {
            k: round(v["f1-score"], 3) for k, v in report.items() if isinstance(v, dict) and k in set(labels)
        },
        "errors": errors,
    }
