"""``--class-weights auto``: weigh each class's loss by how rare it is in the training data
(n / (classes x count), scikit-learn's "balanced"), so a rare class is not traded away for
accuracy on the common ones. Multi-label data gets a positive weight per label instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.tasks import IGNORE, ClassificationTask, MultiLabelTask, Task, TokenTask


def balanced_weights(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    ids = ids[ids != IGNORE]
    counts = torch.bincount(ids, minlength=num_classes).float()
    weights = len(ids) / (num_classes * counts.clamp(min=1))
    return weights * (counts > 0)  # a class absent from training has nothing to weigh


def weighted_loss(
    task: Task, train_targets: Any
) -> tuple[Callable[[torch.Tensor, Any], torch.Tensor], list[float]]:
    """The loss with class weights from the training targets, and the weights (for metrics)."""
    if isinstance(task, ClassificationTask):
        weights = balanced_weights(train_targets, task.num_outputs)

        def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(logits.float(), targets, weight=weights)

        return loss, weights.tolist()
    if isinstance(task, TokenTask):
        weights = balanced_weights(train_targets.tags.flatten(), task.num_outputs)

        def token_loss(logits: torch.Tensor, targets: Any) -> torch.Tensor:
            width = logits.shape[1]
            return nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                targets.tags[:, :width].reshape(-1),
                weight=weights,
                ignore_index=IGNORE,
            )

        return token_loss, weights.tolist()
    if isinstance(task, MultiLabelTask):
        positives = train_targets.sum(0)
        pos_weight = ((len(train_targets) - positives) / positives.clamp(min=1)).clamp(max=100)

        def multi_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return nn.functional.binary_cross_entropy_with_logits(
                logits.float(), targets, pos_weight=pos_weight
            )

        return multi_loss, pos_weight.tolist()
    raise ConfigError("--class-weights works with classes or labels, not with --task regression")
