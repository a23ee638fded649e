"""Tasks: what the head outputs, its loss, its metrics and its prediction rows.

The training loop and the predictor only talk to a :class:`Task`; adding a task type means
adding one class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.data.labelled import LabelSpace
from headstart.evaluation import classification_metrics, multilabel_metrics, regression_metrics


@dataclass
class ClassificationTask:
    labels: list[str]
    name: str = "classification"
    main_metric: str = "accuracy"

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def targets(self, labels: list[Any]) -> torch.Tensor:
        return torch.tensor(LabelSpace(self.labels).ids(labels))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        return classification_metrics(targets.tolist(), logits.argmax(-1).tolist(), self.labels)

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        probs = logits.float().softmax(-1).tolist()
        rows = []
        for p in probs:
            best = max(range(len(p)), key=p.__getitem__)
            scores = {name: round(v, 6) for name, v in zip(self.labels, p, strict=True)}
            rows.append({"label": self.labels[best], "score": round(p[best], 6), "scores": scores})
        return rows

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels}


@dataclass
class RegressionTask:
    """Targets are standardised with the training mean and deviation for the loss; outputs are
    put back on the original scale before metrics and predictions."""

    mean: float
    std: float
    name: str = "regression"
    main_metric: str = "pearson"
    num_outputs: int = 1

    @classmethod
    def fit(cls, values: list[float]) -> RegressionTask:
        array = np.asarray(values, dtype=np.float64)
        return cls(float(array.mean()), float(array.std()) or 1.0)

    def targets(self, labels: list[Any]) -> torch.Tensor:
        return torch.tensor([float(x) for x in labels], dtype=torch.float32)

    def restore(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float()[:, 0] * self.std + self.mean

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scaled = (targets - self.mean) / self.std
        return nn.functional.mse_loss(logits.float()[:, 0], scaled)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        return regression_metrics(targets.tolist(), self.restore(logits).tolist())

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        return [{"value": round(v, 6)} for v in self.restore(logits).tolist()]

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": [], "target_mean": self.mean, "target_std": self.std}


@dataclass
class MultiLabelTask:
    """Independent yes/no per label: sigmoid outputs, binary cross-entropy, one decision
    threshold (0.5, or tuned on the eval split for macro-F1 with ``--tune-threshold``)."""

    labels: list[str]
    threshold: float = 0.5
    name: str = "multilabel"
    main_metric: str = "macro_f1"

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def targets(self, labels: list[Any]) -> torch.Tensor:
        index = {name: i for i, name in enumerate(self.labels)}
        out = torch.zeros(len(labels), len(self.labels))
        for row, names in enumerate(labels):
            for name in names:
                out[row, index[str(name)]] = 1.0
        return out

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        probs = logits.float().sigmoid()
        return multilabel_metrics(
            targets.numpy(), (probs >= self.threshold).numpy(), self.labels
        ) | {"threshold": self.threshold}

    def tune_threshold(self, logits: torch.Tensor, targets: torch.Tensor) -> float:
        probs = logits.float().sigmoid().numpy()
        truth = targets.numpy()
        best = max(
            (multilabel_metrics(truth, probs >= t, self.labels)["macro_f1"], -abs(t - 0.5), t)
            for t in np.round(np.arange(0.05, 0.951, 0.025), 3)
        )
        self.threshold = float(best[2])
        return self.threshold

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        rows = []
        for p in logits.float().sigmoid().tolist():
            chosen = [name for name, v in zip(self.labels, p, strict=True) if v >= self.threshold]
            scores = {name: round(v, 6) for name, v in zip(self.labels, p, strict=True)}
            rows.append({"labels": chosen, "scores": scores})
        return rows

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels, "threshold": self.threshold}


Task = ClassificationTask | RegressionTask | MultiLabelTask


def task_from_meta(meta: dict[str, Any]) -> Task:
    kind = meta.get("task", "classification")
    if kind == "regression":
        return RegressionTask(float(meta["target_mean"]), float(meta["target_std"]))
    if kind == "multilabel":
        return MultiLabelTask(list(meta["labels"]), float(meta.get("threshold", 0.5)))
    return ClassificationTask(list(meta["labels"]))
