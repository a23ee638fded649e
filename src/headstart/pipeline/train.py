"""Stage 7, train: the training settings (checkpoints, gradual unfreezing, class weights) and
one run of the training engine; LoRA adapters are merged after it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.config import FitConfig, parse_unfreeze_every
from headstart.core.distributed import is_main
from headstart.core.precision import resolve_precision
from headstart.core.reporting import Reporter
from headstart.engine.checkpoints import resume_point
from headstart.engine.training import TrainOutcome, TrainSettings, train
from headstart.pipeline.encode import Encoding
from headstart.pipeline.inputs import Prepared
from headstart.pipeline.model import Built
from headstart.pipeline.source import Resolved
from headstart.tasks import Task
from headstart.tasks.imbalance import weighted_loss


@dataclass
class Hooks:
    """What a caller plugs into training. ``on_epoch`` gets each epoch's history record
    (tracking, pruning: an exception it raises ends training); ``checkpoints``: the folder for
    ``--save-every`` checkpoints; ``resume`` goes on from the latest there."""

    on_step: Callable[[int, int], None] | None = None
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    checkpoints: Path | None = None
    resume: bool = False


@dataclass
class TrainRun:
    outcome: TrainOutcome
    settings: TrainSettings  # its precision, device and eval batch size serve prediction too
    extra: dict[str, Any] = field(default_factory=dict)  # metrics of the settings chosen


def run_training(
    config: FitConfig,
    resolved: Resolved,
    built: Built,
    task: Task,
    encoding: Encoding,
    prepared: Prepared,
    hooks: Hooks,
    reporter: Reporter,
) -> TrainRun:
    settings = train_settings(config, resolved, built, encoding, hooks)
    extra: dict[str, Any] = {}
    if hooks.checkpoints is not None:  # the main process writes them; every process resumes
        settings.save_every = config.save_every
        settings.checkpoint_dir = hooks.checkpoints if is_main() else None
        if hooks.resume:
            settings.resume = resume_point(hooks.checkpoints, reporter.console)
    if built.plan.stages:
        settings.stages = built.plan.stages
        settings.stage_steps = stage_steps(config, len(encoding.encoded["train"]))
        extra["unfreeze_every_steps"] = settings.stage_steps
        reporter.info(
            f"gradual: head only first, then one more layer every {settings.stage_steps} steps"
        )
    if config.class_weights == "auto":
        settings.loss, weights = weighted_loss(task, encoding.targets["train"])
        extra["class_weights"] = [round(w, 4) for w in weights]
    outcome = train(
        built.model, prepared.inputs, encoding.targets, built.plan.optimizer_groups, settings,
        task, reporter.console,
    )  # fmt: skip
    if built.plan.finish is not None:
        built.plan.finish(built.model)  # lora: adapters merged; evaluation uses the merged model
    return TrainRun(outcome, settings, extra)


def train_settings(
    config: FitConfig, resolved: Resolved, built: Built, encoding: Encoding, hooks: Hooks
) -> TrainSettings:
    return TrainSettings(
        epochs=built.epochs,
        batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        seed=config.seed,
        precision=resolve_precision(config.precision, resolved.device, encoding.median_tokens),
        device=resolved.device,
        quiet=config.quiet,
        patience=config.patience,
        on_step=hooks.on_step,
        on_epoch=hooks.on_epoch,
    )


def stage_steps(config: FitConfig, train_rows: int) -> int:
    """Steps per gradual stage from --unfreeze-every (default: every half epoch)."""
    amount, unit = parse_unfreeze_every(config.unfreeze_every or "0.5epochs")
    if unit == "steps":
        return int(amount)
    return max(1, round(amount * math.ceil(train_rows / config.batch_size)))
