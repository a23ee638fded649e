"""Baselines without a pretrained encoder, for ``compare``.

``tfidf``: word and word-pair TF-IDF features with logistic regression (scikit-learn). Its
regularisation strength is chosen on the eval split; the fit is deterministic, so every seed
gives the same number.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from headstart.data.labelled import Splits
from headstart.errors import ConfigError
from headstart.tasks import TASKS
from headstart.tasks.metrics import classification_metrics

C_GRID = (1.0, 4.0, 16.0, 64.0)


def _joined(texts: list[Any], pairs: list[str] | None) -> list[str]:
    if pairs is None:
        return [str(t) for t in texts]
    return [f"{a} [SEP] {b}" for a, b in zip(texts, pairs, strict=True)]


def tfidf_baseline(splits: Splits, seed: int) -> dict[str, Any]:
    """Train on ``splits.train``, pick C on eval; metrics as ``fit`` writes them."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if "tfidf" not in TASKS[splits.task].baselines:
        raise ConfigError(f"the tfidf baseline handles classification, not {splits.task}")
    labels = splits.labels.names
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    x_train = vectorizer.fit_transform(_joined(splits.train.texts, splits.train.pairs))
    y = {name: np.asarray(splits.labels.ids(s.labels)) for name, s in _named(splits).items()}
    x = {
        name: vectorizer.transform(_joined(s.texts, s.pairs)) for name, s in _named(splits).items()
    }
    x["train"] = x_train
    history = []
    best: tuple[float, Any] | None = None
    for epoch, c in enumerate(C_GRID, start=1):  # one "epoch" per C tried, for the curves
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(x_train, y["train"])
        score = float((model.predict(x["eval"]) == y["eval"]).mean())
        history.append({"epoch": epoch, "C": c, "accuracy": round(score, 4)})
        if best is None or score > best[0]:
            best = (score, model)
    assert best is not None
    model = best[1]
    seconds = time.perf_counter() - start
    results = {
        name: classification_metrics(y[name].tolist(), model.predict(x[name]).tolist(), labels)
        for name in ("eval", "test")
        if name in x
    }
    params = int(model.coef_.size + model.intercept_.size)
    return {
        **results,
        "strategy": "tfidf",
        "trainable_params": params,
        "total_params": params,
        "train_seconds": round(seconds, 3),
        "task": "classification",
        "labels": labels,
        "history": [],  # C is a choice, not an epoch: no learning curve
        "tfidf": {"C": float(model.C), "vocabulary": len(vectorizer.vocabulary_), "tried": history},
    }


def _named(splits: Splits) -> dict[str, Any]:
    named = {"train": splits.train, "eval": splits.eval, "test": splits.test}
    return {k: v for k, v in named.items() if v is not None}
