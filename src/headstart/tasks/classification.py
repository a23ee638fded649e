"""Single-label classification: softmax over the classes, cross-entropy, accuracy and F1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from headstart.data.labelled import LabelSpace
from headstart.tasks.base import PostFit, Task, check_known, register, shown_labels
from headstart.tasks.calibration import calibrate
from headstart.tasks.imbalance import balanced_weights
from headstart.tasks.metrics import classification_metrics, confusion_markdown, per_class_markdown
from headstart.tasks.pairs import cosine_logistic

if TYPE_CHECKING:
    from headstart.config import FitConfig
    from headstart.data.labelled import Splits


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

    headline_keys = ("accuracy", "macro_f1")
    described = "single-label text classification (softmax over the labels)"
    use_note = " and always picks one of them"
    baselines = ("tfidf",)

    @classmethod
    def report_sections(cls, split: dict[str, Any], name: str, labels: list[str]) -> list[str]:
        if "confusion_matrix" not in split:
            return []
        return [
            "",
            f"## Confusion matrix ({name})",
            "",
            confusion_markdown(split["confusion_matrix"], labels),
            "",
            f"## Per class ({name})",
            "",
            per_class_markdown(split["per_class"]),
        ]

    def weighted_loss(
        self, train_targets: torch.Tensor
    ) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], list[float]]:
        weights = balanced_weights(train_targets, self.num_outputs)

        def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(logits.float(), targets, weight=weights)

        return loss, weights.tolist()

    def cosine_start(
        self, cosines: np.ndarray, wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        present = np.unique(wanted)
        if len(present) < 2:
            return None
        slopes, intercepts = np.zeros(self.num_outputs), np.zeros(self.num_outputs)
        fitted_slopes, fitted_intercepts = cosine_logistic(cosines, wanted)
        slopes[present], intercepts[present] = fitted_slopes, fitted_intercepts
        unseen = np.setdiff1d(np.arange(self.num_outputs), present)
        intercepts[unseen] = -10.0  # classes the sample does not have
        return slopes, intercepts

    def agreement(self, expected: torch.Tensor, got: torch.Tensor) -> float | None:
        return (expected.argmax(-1) == got.argmax(-1)).float().mean().item()

    def evaluation_labels(self, labels: list[Any]) -> list[Any]:
        check_known(labels, self.labels)
        return labels

    def description(self, splits: Splits) -> str:
        return f"{self.name}, {len(self.labels)} classes: {shown_labels(self.labels)}"

    def post_fit(
        self, config: FitConfig, logits: dict[str, torch.Tensor], targets: dict[str, Any]
    ) -> PostFit:
        """Temperature scaling on the eval split (``--calibrate``, on by default)."""
        if not config.calibrate:
            return PostFit()
        test = (logits["test"], targets["test"]) if "test" in logits else None
        c = calibrate(logits["eval"], targets["eval"], test)
        note = (
            f"calibration: temperature {c['temperature']:.3f}, eval ECE "
            f"{c['eval_ece_before']:.4f} → {c['eval_ece_after']:.4f}"
        )
        # the predictor divides logits by the temperature: calibrated scores
        return PostFit([note], {"calibration": c}, {"temperature": c["temperature"]})
