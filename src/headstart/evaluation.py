"""Metrics for classification, and the markdown summary of a run."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(
    y_true: list[int], y_pred: list[int], labels: list[str]
) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    true = np.asarray(y_true)
    pred = np.asarray(y_pred)
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=ids, zero_division=0
    )
    present = support > 0  # macro-F1 over the classes this split contains
    per_class = {
        name: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i, name in enumerate(labels)
    }
    return {
        "accuracy": round(float((true == pred).mean()), 4),
        "macro_f1": round(float(f1[present].mean()), 4) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(true, pred, labels=ids).tolist(),
        "examples": len(true),
    }


def confusion_markdown(matrix: list[list[int]], labels: list[str]) -> str:
    head = "| true \\ predicted | " + " | ".join(labels) + " |"
    rule = "|---" * (len(labels) + 1) + "|"
    rows = [
        f"| **{name}** | " + " | ".join(str(v) for v in row) + " |"
        for name, row in zip(labels, matrix, strict=True)
    ]
    return "\n".join([head, rule, *rows])


def per_class_markdown(per_class: dict[str, dict[str, float]]) -> str:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in per_class.items():
        lines.append(
            f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
            f"| {m['support']} |"
        )
    return "\n".join(lines)
