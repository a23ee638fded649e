"""Stage 9, metrics: the task's metrics of each scored split, then ``metrics.json`` (its keys
in their documented order) and the saved model's ``headstart.json`` of a run."""

from __future__ import annotations

from typing import Any

import torch

from headstart.config import FitConfig
from headstart.core.distributed import world_size
from headstart.core.env import peak_rss_mb
from headstart.data.labelled import Splits
from headstart.pipeline.data import splits_by_name
from headstart.pipeline.encode import Encoding
from headstart.pipeline.inputs import Prepared
from headstart.pipeline.model import Built
from headstart.pipeline.source import Resolved
from headstart.pipeline.train import TrainRun
from headstart.tasks import Task
from headstart.tasks.base import PostFit
from headstart.tasks.pairs import pair_encoding


def split_metrics(
    task: Task, logits: dict[str, torch.Tensor], targets: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    return {split: task.metrics(values, targets[split]) for split, values in logits.items()}


def fit_metrics(
    config: FitConfig,
    splits: Splits,
    task: Task,
    *,
    resolved: Resolved,
    built: Built,
    encoding: Encoding,
    prepared: Prepared,
    run: TrainRun,
    results: dict[str, dict[str, Any]],
    post: PostFit,
) -> dict[str, Any]:
    """The run's ``metrics.json``: split metrics first, then how the run was set up and went."""
    strategy, plan, outcome = resolved.strategy, built.plan, run.outcome
    return {
        **results,
        "model": config.model,
        "data": config.data,
        "strategy": strategy.name,
        "strategy_summary": strategy.summary,
        "frozen_layers": plan.frozen_layers,
        "num_layers": plan.num_layers,
        "trainable_params": built.trainable,
        "total_params": built.total,
        "train_seconds": round(outcome.train_seconds + prepared.cache_seconds, 2),
        "cache_seconds": round(prepared.cache_seconds, 2),
        "epochs": built.epochs,
        "epochs_run": len(outcome.history),
        "best_epoch": outcome.best_epoch,
        "stopped_early": outcome.stopped_early,
        "patience": config.patience,
        "layer_lr_decay": config.layer_lr_decay,
        **({"pair_swap": True} if config.pair_swap else {}),
        **pair_encoding(config.pair_encoding).meta(),
        **({"case_markers": True} if encoding.markers is not None else {}),
        **(
            {"lora": {"rank": config.lora_rank, "alpha": config.lora_alpha or 2 * config.lora_rank}}
            if strategy.name == "lora"
            else {}
        ),
        **run.extra,
        **post.metrics,
        "lr": built.lr,
        "head_lr": built.head_lr,
        "precision": run.settings.precision,
        "cache_precision": resolved.cache_precision,
        "device": resolved.device,
        "processes": world_size(),  # > 1 under accelerate launch
        "peak_rss_mb": peak_rss_mb(),
        "examples": {k: len(v) for k, v in splits_by_name(splits).items()},
        "skipped_rows": splits.skipped,
        "task": task.name,
        "labels": splits.labels.names,
        "history": outcome.history,
    }


def fit_meta(
    config: FitConfig, splits: Splits, task: Task, encoding: Encoding, post: PostFit
) -> dict[str, Any]:
    """What the saved model remembers (``headstart.json``): the task's own entries (after its
    post-fit steps), the run's, and what the predictor must apply as training did."""
    meta = task.meta() | {
        "base_model": config.model,
        "strategy": config.strategy,
        "max_length": config.max_length,
        "pairs": splits.train.pairs is not None,
    }
    if encoding.markers is not None:  # the predictor puts the same markers in
        meta["case_markers"] = True
    return meta | post.meta
