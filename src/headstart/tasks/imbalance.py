"""``--class-weights auto``: weigh each class's loss by how rare it is in the training data
(n / (classes x count), scikit-learn's "balanced"), so a rare class is not traded away for
accuracy on the common ones. Multi-label data gets a positive weight per label instead. Each
task builds its weighted loss (:meth:`~headstart.tasks.base.Task.weighted_loss`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from headstart.tasks.base import IGNORE, Task


def balanced_weights(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    ids = ids[ids != IGNORE]
    counts = torch.bincount(ids, minlength=num_classes).float()
    weights = len(ids) / (num_classes * counts.clamp(min=1))
    return weights * (counts > 0)  # a class absent from training has nothing to weigh


def positive_weights(targets: torch.Tensor) -> torch.Tensor:
    """Per label of multi-hot targets: negatives per positive, at most 100."""
    positives = targets.sum(0)
    return ((len(targets) - positives) / positives.clamp(min=1)).clamp(max=100)


def weighted_loss(
    task: Task, train_targets: Any
) -> tuple[Callable[[torch.Tensor, Any], torch.Tensor], list[float]]:
    """The loss with class weights from the training targets, and the weights (for metrics)."""
    return task.weighted_loss(train_targets)
