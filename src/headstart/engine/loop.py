"""The one training loop, for fit and masked-LM pretraining alike.

:class:`Loop` owns what every run does the same way: AdamW with linear warmup and decay,
gradient clipping, DDP under a launcher, the position in the run (epoch, batch, step), resuming
from a checkpoint and the order in which things happen. What is trained is an
:class:`Objective` (its batches, a step's forward and backward, the evaluation after an epoch);
everything around the steps (progress, checkpoints, early stopping, gradual unfreezing, user
hooks) is a callback (see ``callbacks``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import torch
from torch import nn

from headstart.core.distributed import DataParallel, is_distributed
from headstart.engine.checkpoints import restore_rng
from headstart.engine.optim import build_optimizer, linear_schedule, optimizer_step


@dataclass
class Position:
    """Where the loop is, and the running loss of the epoch in progress."""

    epoch: int = 1  # the epoch in progress, from 1
    position: int = 0  # batches of that epoch done
    step: int = 0  # optimizer steps done
    seen: int = 0  # training rows of that epoch done
    loss_sum: float = 0.0  # their summed loss


@dataclass
class StepLoss:
    loss: float  # the batch's mean loss
    rows: int  # the rows it counts for in the epoch's mean (0: a process's weight-0 share)


@dataclass
class Evaluation:
    """An epoch's evaluation: its history record, and the score early stopping follows."""

    record: dict[str, Any]
    score: float  # higher is better


class Objective(Protocol):
    """What a loop trains."""

    epochs: int

    def batches(self, epoch: int) -> Iterable[Any]:
        """The epoch's batches, in order, each handed to ``backward``."""
        ...

    def backward(self, batch: Any, loop: Loop) -> StepLoss:
        """Forward and backward over one batch (the loop steps the optimizer)."""
        ...

    def evaluate(self, loop: Loop) -> Evaluation | None:
        """After each epoch, the model in eval mode; None: nothing to evaluate."""
        ...

    def resume(self, loop: Loop, saved: Any) -> Position:
        """Restores the objective's and its callbacks' state from a checkpoint (weights too,
        where they are not restored already); returns the position to go on from."""
        ...


class Callback:
    """Hooks around the loop's steps (see ``callbacks`` for those headstart has); each does
    nothing unless overridden."""

    def on_train_start(self, loop: Loop) -> None:
        """After resuming, before the first step."""

    def on_step_start(self, loop: Loop) -> None:
        """Before each batch's forward."""

    def on_step_end(self, loop: Loop) -> None:
        """After each optimizer step; ``loop.position`` counts it already."""

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        """After each evaluated epoch, its record in ``loop.history``."""

    def on_train_end(self, loop: Loop) -> None:
        """After the last epoch (not after an exception)."""


class Saved(Protocol):
    """The part of a checkpoint the loop restores itself."""

    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


class Loop:
    """One training run: ``Loop(model, groups, objective, callbacks, ...).run(resume)``.

    Callback hooks run in list order; a callback may read and set ``position``, ``history``,
    ``trainable`` and ``stopping``, and hold contexts open on ``stack`` for the run's
    length (a progress bar)."""

    def __init__(
        self,
        model: nn.Module,
        groups: list[dict[str, Any]],
        objective: Objective,
        callbacks: Sequence[Callback],
        *,
        total_steps: int,
        weight_decay: float,
        warmup_ratio: float,
        seed: int,
        changing: bool = False,  # gradual: which weights train changes as it goes
    ) -> None:
        self.model, self.objective, self.callbacks = model, objective, list(callbacks)
        self.total_steps, self.seed = total_steps, seed
        self.optimizer: Any = build_optimizer(model, groups, weight_decay)
        self.scheduler = linear_schedule(self.optimizer, total_steps, warmup_ratio)
        # under a launcher: DDP over the model, before gradual stages freeze anything
        self.parallel = DataParallel(model, self.optimizer, changing) if is_distributed() else None
        if self.parallel is not None:
            self.optimizer = self.parallel.optimizer
        self.trainable = trainable(model)
        self.position = Position()
        self.history: list[dict[str, Any]] = []  # the evaluated epochs' records
        self.stopping = False
        self.seconds = 0.0  # training time of this run (not counting an interrupted one's)
        self.stack = ExitStack()
        self._start = self.epoch_start = time.perf_counter()

    def stop(self) -> None:
        """End training after the epoch in progress (early stopping)."""
        self.stopping = True

    def elapsed(self) -> float:
        """Seconds since the first step of this run."""
        return time.perf_counter() - self._start

    def run(self, resume: Saved | None = None) -> None:
        try:
            if resume is not None:
                self._resume(resume)
            if self.parallel is not None:  # each process its own dropout masks
                torch.manual_seed(
                    self.seed + 1_000_003 * (self.parallel.rank + 1) + self.position.step
                )
            with self.stack:
                for callback in self.callbacks:
                    callback.on_train_start(self)
                self._start = time.perf_counter()
                self._epochs()
                self.seconds = self.elapsed()
            for callback in self.callbacks:
                callback.on_train_end(self)
        finally:  # a pruned tuning trial raises from a hook: its DDP wrapper goes too
            self._release()

    def _epochs(self) -> None:
        first = self.position.epoch
        for epoch in range(first, self.objective.epochs + 1):
            if epoch != first:
                self.position = Position(epoch, step=self.position.step)
            self._epoch()
            if self.stopping:
                break

    def _epoch(self) -> None:
        at = self.position
        self.model.train()
        self.epoch_start = time.perf_counter()
        for batch in islice(self.objective.batches(at.epoch), at.position, None):
            for callback in self.callbacks:
                callback.on_step_start(self)
            loss = self.objective.backward(batch, self)
            optimizer_step(self.trainable, self.optimizer, self.scheduler)
            at.position += 1
            at.step += 1
            at.seen += loss.rows
            at.loss_sum += loss.loss * loss.rows
            for callback in self.callbacks:
                callback.on_step_end(self)
        self.model.eval()
        evaluation = self.objective.evaluate(self)
        if evaluation is not None:
            self.history.append(evaluation.record)
            for callback in self.callbacks:
                callback.on_epoch_end(self, evaluation)

    def _resume(self, saved: Saved) -> None:
        """The optimizer and schedule as the checkpoint left them, then the objective's state
        and the position; the RNGs last."""
        self.optimizer.load_state_dict(saved.optimizer)
        self.scheduler.load_state_dict(saved.scheduler)
        self.position = self.objective.resume(self, saved)
        restore_rng(saved.rng)  # last: nothing may draw from the RNGs after this

    def _release(self) -> None:
        if self.parallel is None:
            return
        # DDP's gradient hooks live as long as its wrapper: gone before a later run (adapt's
        # full run after its head warmup, the next tuning trial) wraps the model again
        self.parallel.accelerator.free_memory()
        self.parallel = None
        gc.collect()
