"""Fit's training: AdamW on the strategy's parameter groups, linear warmup and decay,
evaluation after every epoch, and the best epoch's weights kept.

It runs on the engine's one loop (``loop``) with fit's objective: a batch is the rows of the
train split through whatever ``Inputs`` the strategy allows (token ids, cached hidden states,
cached features), and each epoch ends with the eval split's metrics. Progress, epoch lines,
early stopping, checkpoints, gradual unfreezing and the caller's hooks are callbacks.

The input classes and ``predict_logits`` live in ``inputs`` and are exported here too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from headstart.core.precision import autocast
from headstart.core.reporting import Reporter
from headstart.data.batching import length_grouped_batches
from headstart.engine.callbacks import (
    Callback,
    Checkpointing,
    EarlyStopping,
    EpochHook,
    EpochLog,
    GradualUnfreezing,
    Progress,
    StepHook,
)
from headstart.engine.checkpoints import (
    Checkpoint,
    LoopState,
    changing_weights,
    restore_weights,
    save_checkpoint,
)
from headstart.engine.inputs import (
    FeatureInputs,
    Inputs,
    PrefixInputs,
    TokenFeatureInputs,
    TokenInputs,
    in_input_order,
    predict_logits,
    sharded_logits,
    stack_padded,
)
from headstart.engine.loop import Evaluation, Loop, Position, StepLoss
from headstart.engine.optim import build_optimizer
from headstart.models.classifier import TextClassifier
from headstart.tasks import Task

__all__ = [
    "FeatureInputs",
    "Inputs",
    "PrefixInputs",
    "TokenFeatureInputs",
    "TokenInputs",
    "TrainOutcome",
    "TrainSettings",
    "build_optimizer",
    "in_input_order",
    "predict_logits",
    "sharded_logits",
    "stack_padded",
    "train",
]


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    weight_decay: float
    warmup_ratio: float
    seed: int
    precision: str
    device: str
    quiet: bool = False
    eval_batch_size: int = 64
    patience: int | None = None  # stop after this many evaluations without improvement
    # gradual unfreezing: frozen depth of each stage, and the steps each stage lasts
    stages: list[int] | None = None
    stage_steps: int = 0
    # replaces task.loss (class weights); called as loss(logits, targets)
    loss: Callable[[torch.Tensor, Any], torch.Tensor] | None = None
    on_step: Callable[[int, int], None] | None = None  # (steps done, total steps)
    # after each epoch's evaluation, with its history record; an exception it raises (a pruned
    # tuning trial) ends training
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    # write a checkpoint every N steps into this folder; continue from ``resume``
    save_every: int | None = None
    checkpoint_dir: Path | None = None
    resume: Checkpoint | None = None


@dataclass
class TrainOutcome:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    train_seconds: float = 0.0
    stopped_early: bool = False


@dataclass
class _Fit:
    """Fit's objective: rows of the train split, the task's loss, the eval split's metrics."""

    inputs: Inputs
    labels: dict[str, torch.Tensor]
    task: Task
    settings: TrainSettings
    best: EarlyStopping
    gradual: GradualUnfreezing | None

    def __post_init__(self) -> None:
        self.epochs = self.settings.epochs
        self.lengths = self.inputs.lengths("train")
        self.loss = self.settings.loss or self.task.loss

    def batches(self, epoch: int) -> list[list[int]]:
        s = self.settings
        return length_grouped_batches(self.lengths, s.batch_size, s.seed, epoch)

    def backward(self, idx: list[int], loop: Loop) -> StepLoss:
        s, parallel = self.settings, loop.parallel
        rows, weight = parallel.share(idx) if parallel else (idx, 1.0)
        with autocast(s.precision, s.device):
            if parallel is None:
                logits = self.inputs.logits("train", idx)
            else:
                logits = parallel.forward(lambda: self.inputs.logits("train", rows))
        loss = self.loss(logits, self.labels["train"][rows].to(s.device))
        (loss if parallel is None else loss * weight).backward()
        return StepLoss(float(loss.detach()), len(rows) if weight else 0)

    def evaluate(self, loop: Loop) -> Evaluation:
        s, at = self.settings, loop.position
        logits = predict_logits(self.inputs, "eval", s.eval_batch_size, s.precision, s.device)
        metrics = self.task.metrics(logits, self.labels["eval"])
        seen, loss_sum = at.seen, at.loss_sum
        if loop.parallel is not None:  # the epoch's loss over every process's rows
            seen, loss_sum = loop.parallel.total(seen, loss_sum)
        record = {
            "epoch": at.epoch,
            "train_loss": round(loss_sum / max(seen, 1), 5),
            "eval_loss": round(float(self.task.loss(logits, self.labels["eval"])), 5),
            **{k: v for k, v in metrics.items() if isinstance(v, float)},
            "seconds": round(time.perf_counter() - loop.epoch_start, 2),
        }
        if self.gradual is not None:
            record["frozen_layers"] = self.gradual.frozen
        return Evaluation(record, float(metrics[self.task.main_metric]))

    def resume(self, loop: Loop, saved: Checkpoint) -> Position:
        restore_weights(loop.model, saved.weights, saved.path)
        s = saved.state
        loop.history = list(s.history)
        self.best.restore(s.best_score, s.best_epoch, s.since_best, saved.best_weights)
        if self.gradual is not None:
            self.gradual.stage = s.stage
        return Position(s.epoch, s.position, s.step, s.seen, s.loss_sum)


class _FitCheckpointing(Checkpointing):
    """Fit's checkpoint: the weights that may change, the best epoch's, and the loop's state
    with the early-stopping and unfreezing state (see ``checkpoints``)."""

    def __init__(
        self,
        folder: Path,
        every: int,
        optimized: set[int],
        best: EarlyStopping,
        gradual: GradualUnfreezing | None,
    ) -> None:
        super().__init__(folder, every)
        self.optimized, self.best, self.gradual = optimized, best, gradual

    def save(self, loop: Loop) -> Path:
        at, best = loop.position, self.best
        state = LoopState(
            at.epoch, at.position, at.step, at.seen, at.loss_sum,
            self.gradual.stage if self.gradual is not None else 0,
            best.saved_score, best.best_epoch, best.since_best, loop.history,
        )  # fmt: skip
        weights = changing_weights(loop.model, self.optimized)
        return save_checkpoint(
            self.folder, state, weights, best.best_weights, loop.optimizer, loop.scheduler
        )


def train(
    model: TextClassifier,
    inputs: Inputs,
    labels: dict[str, torch.Tensor],
    optimizer_groups: list[dict[str, Any]],
    settings: TrainSettings,
    task: Task,
    console: Console | Reporter,
) -> TrainOutcome:
    """Train ``model`` on the train split, evaluating after each epoch; it ends with the best
    epoch's weights."""
    reporter = Reporter.of(console)
    quiet = settings.quiet or reporter.quiet
    # every weight that may train: gradual stages change requires_grad as they go
    optimized = {id(p) for g in optimizer_groups for p in g["params"]}
    announce = None if quiet else reporter
    best = EarlyStopping(optimized, settings.patience, task.main_metric, announce)
    gradual = GradualUnfreezing(settings.stages, settings.stage_steps) if settings.stages else None
    objective = _Fit(inputs, labels, task, settings, best, gradual)
    steps_per_epoch = math.ceil(len(objective.lengths) / settings.batch_size)
    callbacks: list[Callback | None] = [
        gradual,
        EpochHook(settings.on_epoch) if settings.on_epoch is not None else None,
        EpochLog(reporter, settings.epochs) if not quiet else None,
        best,
        Progress(reporter) if not quiet else None,
        StepHook(settings.on_step) if settings.on_step is not None else None,
        _FitCheckpointing(settings.checkpoint_dir, settings.save_every, optimized, best, gradual)
        if settings.save_every and settings.checkpoint_dir is not None
        else None,
    ]
    loop = Loop(
        model, optimizer_groups, objective, [c for c in callbacks if c is not None],
        total_steps=steps_per_epoch * settings.epochs, weight_decay=settings.weight_decay,
        warmup_ratio=settings.warmup_ratio, seed=settings.seed, changing=bool(settings.stages),
    )  # fmt: skip
    loop.run(settings.resume)
    seconds = loop.seconds
    if settings.resume is not None:  # the time spent before the interruption counts too
        seconds += sum(r.get("seconds", 0.0) for r in settings.resume.state.history)
    return TrainOutcome(loop.history, best.best_epoch, seconds, best.stopped_early)
