"""Masked-LM training: AdamW with linear warmup and decay over packed chunks, fresh masking in
every batch, and the held-out loss on a masking fixed once so that before and after compare.

It runs on the engine's loop (``headstart.engine.loop``), as fit does: the same optimizer,
schedule, clipping, DDP wrap, progress and checkpoint callbacks; the objective and the
checkpoint's contents are masked-LM's own."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from headstart.core.distributed import (
    DataParallel,
    is_distributed,
    rank,
    sum_over_processes,
    world_size,
)
from headstart.core.precision import autocast
from headstart.core.reporting import Reporter
from headstart.engine.callbacks import Callback, Progress
from headstart.engine.loop import Loop, Position, StepLoss
from headstart.pretraining.checkpoints import MLMCheckpoint, MLMCheckpointing, MLMLoopState
from headstart.pretraining.corpus import Chunks
from headstart.pretraining.mlm import make_masker, mask_batch, mlm_loss


@dataclass
class MLMSettings:
    steps: int | None  # None: run ``epochs`` passes over the chunks
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_ratio: float
    seed: int
    precision: str  # resolved: fp32, bf16 or fp16
    device: str
    whole_word_mask: bool = False
    mlm_probability: float = 0.15
    eval_batch_size: int = 64
    quiet: bool = False
    on_point: Callable[[dict[str, float]], None] | None = None  # each curve point (--track)
    save_every: int | None = None  # adapt --save-every: a checkpoint every N steps
    checkpoint_dir: Path | None = None  # None on processes other than the main one
    resume: MLMCheckpoint | None = None  # adapt --resume: go on from here
    run_state: dict[str, Any] = field(default_factory=dict)  # saved along (the loss before)

    def total_steps(self, n_chunks: int) -> int:
        if self.steps is not None:
            return self.steps
        return self.epochs * math.ceil(n_chunks / self.batch_size)


@dataclass
class HeldOut:
    """Held-out chunks masked once, with a seed of their own: every evaluation predicts the
    same tokens from the same corrupted inputs."""

    batches: list[dict[str, torch.Tensor]]

    @property
    def masked_tokens(self) -> int:
        return sum(int((b["labels"] != -100).sum()) for b in self.batches)


def fix_heldout(chunks: Chunks, tokenizer: Any, settings: MLMSettings) -> HeldOut:
    masker = make_masker(
        tokenizer, settings.whole_word_mask, settings.mlm_probability, settings.seed + 1
    )
    batches = []
    for start in range(0, len(chunks), settings.eval_batch_size):
        idx = list(range(start, min(start + settings.eval_batch_size, len(chunks))))
        batches.append(mask_batch(masker, chunks.batch(idx)))
    return HeldOut(batches)


def heldout_loss(model: Any, held: HeldOut, settings: MLMSettings) -> float:
    """Mean cross-entropy per masked held-out token; its exp is the perplexity."""
    total, count = heldout_sums(model, held, settings)
    return total / max(count, 1)


def heldout_sums(model: Any, held: HeldOut, settings: MLMSettings) -> tuple[float, int]:
    """``(summed cross-entropy, masked tokens)`` over the held-out set. Under a launcher each
    process takes every n-th batch and the sums are totalled: every token counted once."""
    model.eval()
    mine = held.batches[rank() :: world_size()] if is_distributed() else held.batches
    total, count = 0.0, 0
    with torch.inference_mode(), autocast(settings.precision, settings.device):
        for batch in mine:
            loss_sum, n = mlm_loss(model, {k: v.to(settings.device) for k, v in batch.items()})
            total += float(loss_sum)
            count += n
    if is_distributed():  # a process without a batch still joins the sum
        total, summed = sum_over_processes(total, count)
        count = round(summed)
    return total, count


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 700.0))  # exp overflows a float past ~709


@dataclass
class MLMOutcome:
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0  # non-padding tokens the model trained on
    final_train_loss: float = 0.0  # mean over the last 50 steps
    curve: list[dict[str, float]] = field(default_factory=list)  # every ~1/20 of the run


def batches(n_chunks: int, batch_size: int, seed: int) -> Any:
    """Batches of chunk indices forever, reshuffled (seeded) at every epoch."""
    epoch = 0
    while True:
        order = torch.randperm(n_chunks, generator=torch.Generator().manual_seed(seed + epoch))
        for start in range(0, n_chunks, batch_size):
            yield order[start : start + batch_size]
        epoch += 1


class _MaskedLM:
    """The masked-LM objective: the whole run is one pass of ``total`` steps over the seeded
    endless batch order, each batch masked afresh; no evaluation between epochs (the held-out
    loss is measured before and after)."""

    epochs = 1

    def __init__(self, chunks: Chunks, masker: Any, settings: MLMSettings, total: int) -> None:
        self.chunks, self.masker, self.settings, self.total = chunks, masker, settings, total
        self.steps_per_epoch = max(math.ceil(len(chunks) / settings.batch_size), 1)
        self.tokens = 0  # non-padding tokens trained on
        self.recent: deque[float] = deque(maxlen=50)  # the progress shows a running mean
        self.curve: list[dict[str, float]] = []
        self.seconds_before = 0.0  # training time of an interrupted run
        self.first_step = 0  # the step this run started from

    def batches(self, epoch: int) -> Iterable[torch.Tensor]:
        return islice(
            batches(len(self.chunks), self.settings.batch_size, self.settings.seed), self.total
        )

    def backward(self, idx: torch.Tensor, loop: Loop) -> StepLoss:
        s = self.settings
        # every process masks the whole global batch with the same generator (cheap), so the
        # masking and the token count are those of a single process
        batch = mask_batch(self.masker, self.chunks.batch(idx))
        count = int((batch["labels"] != -100).sum())
        self.tokens += int(batch["attention_mask"].sum())
        if loop.parallel is None:
            batch = {k: v.to(s.device) for k, v in batch.items()}
            with autocast(s.precision, s.device):
                loss_sum, _ = mlm_loss(loop.model, batch)
            loss = loss_sum / max(count, 1)
            loss.backward()
        else:
            loss = _parallel_step(loop.parallel, loop.model, batch, count, s)
        self.recent.append(float(loss.detach()))
        return StepLoss(self.recent[-1], len(idx))

    def evaluate(self, loop: Loop) -> None:
        return None

    def resume(self, loop: Loop, saved: MLMCheckpoint) -> Position:
        """The weights are restored already (before the model was wrapped for DDP)."""
        state = saved.state
        self.tokens, self.curve = state.tokens, list(state.curve)
        self.recent.extend(state.recent)
        self.seconds_before, self.first_step = state.seconds, state.step
        self.masker.generator.set_state(saved.rng["masker"])
        # the batch order is seeded: the step is its position
        return Position(epoch=1, position=state.step, step=state.step)

    def mean_loss(self) -> float:
        return sum(self.recent) / max(len(self.recent), 1)

    def progress(self, loop: Loop) -> dict[str, Any]:
        step = loop.position.step
        chunks = (step - self.first_step) * self.settings.batch_size
        return {
            "epoch": (step - 1) // self.steps_per_epoch + 1,  # passes over the chunks
            "loss": self.mean_loss(),
            "speed": chunks / max(loop.elapsed(), 1e-9),
        }

    def loop_state(self, loop: Loop) -> MLMLoopState:
        """What a checkpoint of this step holds besides the weights and the optimizer."""
        return MLMLoopState(
            loop.position.step, self.tokens, self.seconds_before + loop.elapsed(),
            list(self.recent), list(self.curve), self.settings.run_state,
        )  # fmt: skip


class _Curve(Callback):
    """A point of the training curve every ~1/20 of the run (and at its end), each handed to
    ``on_point`` as it is drawn (``--track``)."""

    def __init__(
        self, objective: _MaskedLM, on_point: Callable[[dict[str, float]], None] | None
    ) -> None:
        self.objective, self.on_point = objective, on_point
        self.every = max(objective.total // 20, 1)

    def on_step_end(self, loop: Loop) -> None:
        step = loop.position.step
        if step % self.every == 0 or step == loop.total_steps:
            point = {"step": step, "train_loss": round(self.objective.mean_loss(), 4)}
            self.objective.curve.append(point)
            if self.on_point is not None:
                self.on_point(point)


def train_mlm(
    model: Any,
    tokenizer: Any,
    chunks: Chunks,
    settings: MLMSettings,
    console: Console | Reporter,
) -> MLMOutcome:
    """Masked-LM training of ``model`` on ``chunks`` for ``settings.total_steps`` steps; under
    a launcher DDP over the weights that train now (the head alone in a head warmup)."""
    reporter = Reporter.of(console)
    total = settings.total_steps(len(chunks))
    masker = make_masker(
        tokenizer, settings.whole_word_mask, settings.mlm_probability, settings.seed
    )
    objective = _MaskedLM(chunks, masker, settings, total)
    callbacks: list[Callback] = [_Curve(objective, settings.on_point)]
    if not (settings.quiet or reporter.quiet):
        callbacks.append(Progress(reporter, "masked LM, epoch", objective.progress))
    if settings.save_every and settings.checkpoint_dir is not None:
        callbacks.append(
            MLMCheckpointing(
                settings.checkpoint_dir, settings.save_every, objective.loop_state, masker
            )
        )
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": settings.lr}]
    loop = Loop(
        model, groups, objective, callbacks, total_steps=total,
        weight_decay=settings.weight_decay, warmup_ratio=settings.warmup_ratio, seed=settings.seed,
    )  # fmt: skip
    loop.run(settings.resume)
    return MLMOutcome(
        steps=total,
        seconds=objective.seconds_before + loop.seconds,
        tokens=objective.tokens,
        final_train_loss=objective.mean_loss(),
        curve=objective.curve,
    )


def _parallel_step(
    parallel: DataParallel, model: Any, batch: dict[str, torch.Tensor], count: int,
    settings: MLMSettings,
) -> torch.Tensor:  # fmt: skip
    """This process's rows of the global batch forward and backward; returns the global
    batch's mean loss per masked token. DDP averages the gradients over the processes, so each
    process's summed loss is scaled by processes / the global batch's masked tokens."""
    rows, weight = parallel.share(list(range(len(batch["input_ids"]))))
    part = {k: v[rows].to(settings.device) for k, v in batch.items()}
    with autocast(settings.precision, settings.device):
        loss_sum = parallel.forward(lambda: mlm_loss(model, part)[0])
    if not weight:  # no rows of its own: it takes part in the all-reduce at weight 0
        loss_sum = loss_sum * 0.0
    (loss_sum * parallel.world / max(count, 1)).backward()
    (total,) = sum_over_processes(float(loss_sum.detach()))  # on the device: NCCL needs it
    return torch.tensor(total / max(count, 1))
