"""Regression: one standardised output, mean squared error, Pearson and Spearman."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from headstart.tasks.base import Task, register
from headstart.tasks.metrics import regression_metrics

if TYPE_CHECKING:
    from headstart.config import FitConfig
    from headstart.data.labelled import Splits


@register
@dataclass
class RegressionTask(Task):
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

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> RegressionTask:
        return cls(float(meta["target_mean"]), float(meta["target_std"]))

    headline_keys = ("pearson", "spearman", "mse", "mae")
    described = "text regression (one number per text)"

    def cosine_start(
        self, cosines: np.ndarray, wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        scaled = (wanted - self.mean) / self.std  # the head predicts standardised targets
        slope, intercept = np.polyfit(cosines, scaled, 1)
        return np.array([slope]), np.array([intercept])

    @classmethod
    def from_splits(cls, splits: Splits, config: FitConfig) -> RegressionTask:
        return cls.fit(splits.train.labels)

    def description(self, splits: Splits) -> str:
        values = splits.train.labels
        return f"regression, training targets {min(values):g} to {max(values):g}"
