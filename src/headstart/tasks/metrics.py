"""The metrics of each task type, the markdown tables of a run, and the main metric and headline
of a split (read from the task registry)."""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.tasks.base import TASKS, task_type


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


def regression_metrics(y_true: list[float], y_pred: list[float]) -> dict[str, Any]:
    from scipy.stats import pearsonr, spearmanr

    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    constant = len(true) < 2 or true.std() == 0 or pred.std() == 0  # correlation undefined
    return {
        "pearson": 0.0 if constant else round(float(pearsonr(true, pred)[0]), 4),
        "spearman": 0.0 if constant else round(float(spearmanr(true, pred)[0]), 4),
        "mse": round(float(((true - pred) ** 2).mean()), 4),
        "mae": round(float(np.abs(true - pred).mean()), 4),
        "examples": len(true),
    }


def multilabel_metrics(
    truth: np.ndarray, predicted: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    truth = np.asarray(truth).astype(int)
    predicted = np.asarray(predicted).astype(int)
    per_label = f1_score(truth, predicted, average=None, zero_division=0)
    present = truth.sum(0) > 0  # macro-F1 over the labels this split contains
    return {
        "micro_f1": round(float(f1_score(truth, predicted, average="micro", zero_division=0)), 4),
        "macro_f1": round(float(per_label[present].mean()), 4) if present.any() else 0.0,
        "subset_accuracy": round(float((truth == predicted).all(1).mean()), 4),
        "per_label": {
            name: {"f1": round(float(per_label[i]), 4), "support": int(truth[:, i].sum())}
            for i, name in enumerate(labels)
        },
        "examples": len(truth),
    }


def tagging_metrics(true: list[list[str]], pred: list[list[str]], entities: bool) -> dict[str, Any]:
    """Word accuracy always; with entity tags also entity-level precision, recall and F1, overall
    (micro) and per type, by seqeval in its default conlleval-compatible mode."""
    flat_true = [t for s in true for t in s]
    flat_pred = [t for s in pred for t in s]
    out: dict[str, Any] = {
        "accuracy": round(
            float(np.mean([a == b for a, b in zip(flat_true, flat_pred, strict=True)])), 4
        ),
        "sentences": len(true),
        "words": len(flat_true),
    }
    if not entities:
        from sklearn.metrics import f1_score

        out["macro_f1"] = round(float(f1_score(flat_true, flat_pred, average="macro")), 4)
        return out
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    report = classification_report(true, pred, output_dict=True, zero_division=0)
    per_type = {
        kind: {
            "precision": round(float(m["precision"]), 4),
            "recall": round(float(m["recall"]), 4),
            "f1": round(float(m["f1-score"]), 4),
            "support": int(m["support"]),
        }
        for kind, m in report.items()
        if not kind.endswith(" avg")
    }
    return {
        "precision": round(float(precision_score(true, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(true, pred, zero_division=0)), 4),
        "f1": round(float(f1_score(true, pred, zero_division=0)), 4),
        "per_type": per_type,
    } | out


def main_metric(task: str | None, split: dict[str, Any]) -> str:
    """The metric a run of ``task`` (a name, as ``metrics.json`` has it) is judged by, from one
    split's metrics: higher is better for all. The task classes define it
    (:meth:`~headstart.tasks.base.Task.main_metric_of`)."""
    return task_type(task).main_metric_of(split)


def headline(metrics: dict[str, Any], task: str) -> str:
    """The main numbers of one split on one line, e.g. "accuracy 0.9731  macro_f1 0.9702"."""
    keys = TASKS[task].headline_keys
    return "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics)
