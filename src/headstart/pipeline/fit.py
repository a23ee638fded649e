"""fit as a pipeline of named stages, each in its own module of this package:

    resolve model (source) → read data (data) → build task (task) → build model and plan
    (model) → encode (encode) → inputs and caches (inputs) → train (train) → post-fit
    (postfit) → metrics (metrics) → write run (write)

:func:`train_model` runs all but the last; ``headstart.api.fit`` calls it, then
:func:`write_run`. Stages say what they have to say through one
:class:`~headstart.core.reporting.Reporter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.models.classifier import TextClassifier
from headstart.pipeline.data import (
    read_data,
    read_splits,
    splits_by_name,
    subsample_train,
    swap_pairs,
)
from headstart.pipeline.encode import encode_data
from headstart.pipeline.inputs import prepare_inputs
from headstart.pipeline.metrics import fit_meta, fit_metrics, split_metrics
from headstart.pipeline.model import build_model
from headstart.pipeline.postfit import post_fit, predict_splits
from headstart.pipeline.source import resolve_model
from headstart.pipeline.task import build_task
from headstart.pipeline.train import Hooks, run_training
from headstart.pipeline.write import write_run

# callers import these from here: compare, tune, the tests
__all__ = [
    "Trained",
    "read_splits",
    "splits_by_name",
    "subsample_train",
    "swap_pairs",
    "train_model",
    "write_run",
]


@dataclass
class Trained:
    """A trained model in memory, before any run folder: what ``compare`` keeps of a run."""

    model: TextClassifier
    tokenizer: Any
    meta: dict[str, Any]
    metrics: dict[str, Any]


def train_model(
    config: FitConfig,
    console: Console | Reporter,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> Trained:
    """Everything ``fit`` does except writing the run folder. ``console``: a rich console or a
    reporter, what the stages say goes to. ``on_epoch`` gets each epoch's history record
    (tracking, pruning: an exception it raises ends training). ``checkpoints``: the folder for
    ``--save-every`` checkpoints; ``resume`` goes on from the latest there."""
    reporter = Reporter.of(console)
    resolved = resolve_model(config)  # a bad --model fails before any output
    splits = read_data(config, reporter)
    task = build_task(splits, config, reporter)
    built = build_model(config, resolved, task, reporter)
    encoder_frozen = built.plan.encoder_frozen
    encoding = encode_data(config, splits, task, resolved.tokenizer, encoder_frozen, reporter)
    prepared = prepare_inputs(config, resolved, built, task, encoding, reporter)
    hooks = Hooks(on_step, on_epoch, checkpoints, resume)
    run = run_training(config, resolved, built, task, encoding, prepared, hooks, reporter)

    logits = predict_splits(prepared.inputs, encoding.encoded, run.settings)
    post = post_fit(config, task, logits, encoding.targets, reporter)
    results = split_metrics(task, logits, encoding.targets)
    metrics = fit_metrics(
        config, splits, task, resolved=resolved, built=built, encoding=encoding,
        prepared=prepared, run=run, results=results, post=post,
    )  # fmt: skip
    meta = fit_meta(config, splits, task, encoding, post)
    return Trained(built.model, resolved.tokenizer, meta, metrics)
