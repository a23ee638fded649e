"""Single-label classification: softmax over the classes, cross-entropy, accuracy and F1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from headstart.data.labelled import LabelSpace
from headstart.tasks.base import Task, register
from headstart.tasks.metrics import classification_metrics


@register
@dataclass
class ClassificationTask(Task):
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
