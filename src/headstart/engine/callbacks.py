"""What happens around the training steps, one concern each: progress, the epoch lines, early
stopping with the best epoch's weights, checkpoints, gradual unfreezing and the user's hooks.

A loop runs its callbacks' hooks in list order (see :class:`~headstart.engine.loop.Callback`).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from headstart.core.reporting import Reporter, StepProgress
from headstart.engine.loop import Callback, Evaluation, Loop, trainable
from headstart.strategies import set_depth

__all__ = [
    "Callback",
    "Checkpointing",
    "EarlyStopping",
    "EpochHook",
    "EpochLog",
    "GradualUnfreezing",
    "Progress",
    "StepHook",
    "epoch_mean",
]


def epoch_mean(loop: Loop) -> dict[str, Any]:
    """The progress fields of the epoch in progress: its mean loss and rows per second."""
    at = loop.position
    speed = at.seen / max(time.perf_counter() - loop.epoch_start, 1e-9)
    return {"epoch": at.epoch, "loss": at.loss_sum / max(at.seen, 1), "speed": speed}


class Progress(Callback):
    """A bar on a terminal, a plain line now and then in a log (``Reporter.steps``)."""

    def __init__(
        self,
        reporter: Reporter,
        label: str = "epoch",
        fields: Callable[[Loop], dict[str, Any]] = epoch_mean,
    ) -> None:
        self.reporter, self.label, self.fields = reporter, label, fields
        self.bar: StepProgress | None = None

    def on_train_start(self, loop: Loop) -> None:
        steps = self.reporter.steps(loop.total_steps, loop.position.step, self.label)
        self.bar = loop.stack.enter_context(steps)

    def on_step_end(self, loop: Loop) -> None:
        assert self.bar is not None
        self.bar.update(advance=1, **self.fields(loop))


class EpochLog(Callback):
    """A line per evaluated epoch: ``epoch 2/3: train_loss 0.41, eval_loss 0.38, …``."""

    def __init__(self, reporter: Reporter, epochs: int) -> None:
        self.reporter, self.epochs = reporter, epochs

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        record = evaluation.record
        shown = ", ".join(f"{k} {v}" for k, v in record.items() if k != "epoch")
        self.reporter.info(f"epoch {loop.position.epoch}/{self.epochs}: {shown}")


class EarlyStopping(Callback):
    """Keeps the weights of the best-scoring epoch and puts them back when training ends;
    with a ``patience``, stops after that many evaluations without a better score."""

    def __init__(
        self,
        kept: set[int],  # ids of the parameters whose best values are kept: those that may train
        patience: int | None = None,
        metric: str = "score",
        reporter: Reporter | None = None,  # None: the stop is not announced
    ) -> None:
        self.kept, self.patience, self.metric, self.reporter = kept, patience, metric, reporter
        self.best_score = -math.inf
        self.best_epoch = 0
        self.since_best = 0
        self.best_weights: dict[str, torch.Tensor] = {}
        self.stopped_early = False

    def restore(
        self,
        best_score: float | None,
        best_epoch: int,
        since_best: int,
        best_weights: dict[str, torch.Tensor],
    ) -> None:
        """Where an interrupted run had got to (``best_score`` None: nothing evaluated yet)."""
        self.best_score = -math.inf if best_score is None else best_score
        self.best_epoch, self.since_best, self.best_weights = best_epoch, since_best, best_weights

    @property
    def saved_score(self) -> float | None:
        return None if self.best_score == -math.inf else self.best_score

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        epoch = loop.position.epoch
        if evaluation.score > self.best_score:
            self.best_score, self.best_epoch, self.since_best = evaluation.score, epoch, 0
            named = loop.model.named_parameters()
            self.best_weights = {n: p.detach().clone() for n, p in named if id(p) in self.kept}
        else:
            self.since_best += 1
        if self.patience is not None and self.since_best >= self.patience:
            self.stopped_early = epoch < loop.objective.epochs
            if self.stopped_early and self.reporter is not None:
                self.reporter.info(
                    f"early stop: no better eval {self.metric} for {self.patience} epochs; "
                    f"best epoch {self.best_epoch}"
                )
            loop.stop()

    def on_train_end(self, loop: Loop) -> None:
        with torch.no_grad():  # back to the best epoch's weights
            params = dict(loop.model.named_parameters())
            for name, value in self.best_weights.items():
                params[name].copy_(value)


class Checkpointing(Callback, ABC):
    """A checkpoint into ``folder`` every ``every`` steps; what it holds is the subclass's
    (fit's and masked-LM pretraining's differ)."""

    def __init__(self, folder: Path, every: int) -> None:
        self.folder, self.every = folder, every

    def on_step_end(self, loop: Loop) -> None:
        if loop.position.step % self.every == 0:
            self.save(loop)

    @abstractmethod
    def save(self, loop: Loop) -> Path:
        """Write the checkpoint of this step; returns its folder."""


class GradualUnfreezing(Callback):
    """The head alone first, then one more layer down every ``stage_steps`` steps: stage ``i``
    freezes the encoder below ``stages[i]``."""

    def __init__(self, stages: list[int], stage_steps: int) -> None:
        self.stages, self.stage_steps = stages, stage_steps
        self.stage = 0

    @property
    def frozen(self) -> int:
        return self.stages[self.stage]

    def on_train_start(self, loop: Loop) -> None:
        self._freeze(loop)

    def on_step_start(self, loop: Loop) -> None:
        if not self.stage_steps:
            return
        due = min(loop.position.step // self.stage_steps, len(self.stages) - 1)
        if due != self.stage:  # unfreeze the next layer down
            self.stage = due
            self._freeze(loop)

    def _freeze(self, loop: Loop) -> None:
        set_depth(loop.model, self.frozen)
        loop.trainable = trainable(loop.model)


class StepHook(Callback):
    """``hook(steps done, total steps)`` after each step, and ``(total, total)`` when training
    stops early."""

    def __init__(self, hook: Callable[[int, int], None]) -> None:
        self.hook = hook

    def on_step_end(self, loop: Loop) -> None:
        self.hook(loop.position.step, loop.total_steps)

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        if loop.stopping:
            self.hook(loop.total_steps, loop.total_steps)


class EpochHook(Callback):
    """``hook(record)`` after each epoch's evaluation; an exception it raises (a pruned tuning
    trial) ends training."""

    def __init__(self, hook: Callable[[dict[str, Any]], None]) -> None:
        self.hook = hook

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        self.hook(evaluation.record)
