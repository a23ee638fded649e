"""Stage 8, post-fit: the trained model's logits on the eval (and test) split, and the task's
steps on them (multi-label threshold tuning, classification temperature scaling)."""

from __future__ import annotations

from typing import Any

import torch

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.engine.training import Inputs, TrainSettings, predict_logits
from headstart.tasks import Task
from headstart.tasks.base import PostFit

SCORED = ("eval", "test")


def predict_splits(
    inputs: Inputs, splits: dict[str, Any], settings: TrainSettings
) -> dict[str, torch.Tensor]:
    """Logits of the scored splits among ``splits`` (any mapping keyed by split name)."""
    return {
        split: predict_logits(
            inputs, split, settings.eval_batch_size, settings.precision, settings.device
        )
        for split in SCORED
        if split in splits
    }


def post_fit(
    config: FitConfig,
    task: Task,
    logits: dict[str, torch.Tensor],
    targets: dict[str, Any],
    reporter: Reporter,
) -> PostFit:
    post = task.post_fit(config, logits, targets)
    for note in post.notes:
        reporter.info(note)
    return post
