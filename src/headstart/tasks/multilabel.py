"""Multi-label classification: a yes/no per label, binary cross-entropy, macro-F1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from headstart.tasks.base import PostFit, Task, check_known, register, shown_labels
from headstart.tasks.imbalance import positive_weights
from headstart.tasks.metrics import multilabel_metrics
from headstart.tasks.pairs import cosine_logistic

if TYPE_CHECKING:
    from headstart.config import FitConfig
    from headstart.data.labelled import Splits


@register
@dataclass
class MultiLabelTask(Task):
    """Independent yes/no per label: sigmoid outputs, binary cross-entropy and a decision
    threshold: 0.5, or tuned on the eval split with ``--tune-threshold``: one threshold for
    macro-F1, then a label's own threshold where the eval split has enough of its examples
    (``MIN_POSITIVES``) to choose one without fitting noise."""

    labels: list[str]
    threshold: float = 0.5
    per_label: list[float] | None = None  # tuned thresholds, one per label
    name: str = "multilabel"
    main_metric: str = "macro_f1"

    MIN_POSITIVES = 25
    GRID = tuple(float(t) for t in np.round(np.arange(0.05, 0.951, 0.025), 3))

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    @property
    def thresholds(self) -> np.ndarray:
        if self.per_label is not None:
            return np.asarray(self.per_label)
        return np.full(len(self.labels), self.threshold)

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
        probs = logits.float().sigmoid().numpy()
        out = multilabel_metrics(targets.numpy(), probs >= self.thresholds, self.labels)
        out["threshold"] = self.threshold
        if self.per_label is not None:
            for name, t in zip(self.labels, self.per_label, strict=True):
                out["per_label"][name]["threshold"] = t
        return out

    def tune_threshold(self, logits: torch.Tensor, targets: torch.Tensor) -> int:
        """Choose the thresholds on eval logits; returns how many labels got their own."""
        from sklearn.metrics import f1_score

        probs = logits.float().sigmoid().numpy()
        truth = targets.numpy().astype(int)
        best = max(
            (multilabel_metrics(truth, probs >= t, self.labels)["macro_f1"], -abs(t - 0.5), t)
            for t in self.GRID
        )
        self.threshold = float(best[2])
        per_label, own = [], 0
        for j in range(len(self.labels)):
            if truth[:, j].sum() < self.MIN_POSITIVES:
                per_label.append(self.threshold)
                continue
            column = truth[:, j]
            scores = [
                (f1_score(column, probs[:, j] >= t, zero_division=0), -abs(t - self.threshold), t)
                for t in self.GRID
            ]
            per_label.append(float(max(scores)[2]))
            own += 1
        self.per_label = per_label
        return own

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        rows = []
        cut = self.thresholds.tolist()
        for p in logits.float().sigmoid().tolist():
            chosen = [name for name, v, t in zip(self.labels, p, cut, strict=True) if v >= t]
            scores = {name: round(v, 6) for name, v in zip(self.labels, p, strict=True)}
            rows.append({"labels": chosen, "scores": scores})
        return rows

    def meta(self) -> dict[str, Any]:
        meta = {"task": self.name, "labels": self.labels, "threshold": self.threshold}
        return meta | ({"thresholds": self.per_label} if self.per_label is not None else {})

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> MultiLabelTask:
        per_label = meta.get("thresholds")
        return cls(
            list(meta["labels"]),
            float(meta.get("threshold", 0.5)),
            [float(t) for t in per_label] if per_label is not None else None,
        )

    headline_keys = ("micro_f1", "macro_f1", "subset_accuracy")
    described = "multi-label text classification (an independent sigmoid per label)"

    @classmethod
    def report_sections(cls, split: dict[str, Any], name: str, labels: list[str]) -> list[str]:
        if "per_label" not in split:
            return []
        lines = ["", f"## Per label ({name})", "", "| label | F1 | support |", "|---|---|---|"]
        for label, m in split["per_label"].items():
            lines.append(f"| {label} | {m['f1']:.3f} | {m['support']} |")
        return lines

    def weighted_loss(
        self, train_targets: torch.Tensor
    ) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], list[float]]:
        pos_weight = positive_weights(train_targets)

        def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return nn.functional.binary_cross_entropy_with_logits(
                logits.float(), targets, pos_weight=pos_weight
            )

        return loss, pos_weight.tolist()

    def cosine_start(
        self, cosines: np.ndarray, wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A binary logistic fit per label; a label the sample never (or always) has starts
        far below (above) its threshold."""
        slopes, intercepts = np.zeros(self.num_outputs), np.zeros(self.num_outputs)
        for label in range(self.num_outputs):
            column = wanted[:, label]
            if 0 < column.sum() < len(column):
                fitted_slopes, fitted_intercepts = cosine_logistic(cosines, column.astype(int))
                slopes[label], intercepts[label] = fitted_slopes[1] * 2, fitted_intercepts[1] * 2
            else:
                intercepts[label] = -10.0 if column.sum() == 0 else 10.0
        return slopes, intercepts

    def agreement(self, expected: torch.Tensor, got: torch.Tensor) -> float | None:
        """Rows whose every label decision is the same, at the saved (global) threshold."""
        same = (expected.sigmoid() >= self.threshold) == (got.sigmoid() >= self.threshold)
        return same.all(-1).float().mean().item()

    def evaluation_labels(self, labels: list[Any]) -> list[Any]:
        """A plain string is a one-label list."""
        labels = [x if isinstance(x, list) else [x] for x in labels]
        check_known(labels, self.labels)
        return labels

    @classmethod
    def from_splits(cls, splits: Splits, config: FitConfig) -> MultiLabelTask:
        return cls(splits.labels.names, config.threshold)

    def description(self, splits: Splits) -> str:
        return f"multi-label, {len(self.labels)} labels: {shown_labels(self.labels)}"

    def post_fit(
        self, config: FitConfig, logits: dict[str, torch.Tensor], targets: dict[str, Any]
    ) -> PostFit:
        """``--tune-threshold``: the thresholds chosen on the eval split (kept in ``meta``)."""
        if not config.tune_threshold:
            return PostFit()
        own = self.tune_threshold(logits["eval"], targets["eval"])
        note = (
            f"decision thresholds tuned on the eval split: {self.threshold:.3f} overall; "
            f"{own} of {len(self.labels)} labels have {self.MIN_POSITIVES}+ eval examples and "
            f"their own threshold"
        )
        return PostFit([note])
