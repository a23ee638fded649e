"""The masked-LM loop: AdamW with linear warmup and decay over packed chunks, fresh masking in
every batch, and the held-out loss on a masking fixed once so that before and after compare."""

from __future__ import annotations

import gc
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from headstart.core.distributed import (
    DataParallel,
    is_distributed,
    rank,
    sum_over_processes,
    world_size,
)
from headstart.core.precision import autocast
from headstart.engine.checkpoints import restore_rng
from headstart.engine.training import build_optimizer
from headstart.pretraining.checkpoints import MLMCheckpoint, MLMLoopState, save_mlm_checkpoint
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


def train_mlm(
    model: Any, tokenizer: Any, chunks: Chunks, settings: MLMSettings, console: Console
) -> MLMOutcome:
    from transformers import get_linear_schedule_with_warmup

    total = settings.total_steps(len(chunks))
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": settings.lr}]
    optimizer = build_optimizer(model, groups, settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total * settings.warmup_ratio), total
    )
    masker = make_masker(
        tokenizer, settings.whole_word_mask, settings.mlm_probability, settings.seed
    )
    trainable = groups[0]["params"]
    outcome = MLMOutcome()
    recent: deque[float] = deque(maxlen=50)  # the progress bar shows a running mean
    done, seconds_before = 0, 0.0
    order = batches(len(chunks), settings.batch_size, settings.seed)
    if settings.resume is not None:  # the weights are restored already (before any DDP wrap)
        saved = settings.resume
        optimizer.load_state_dict(saved.optimizer)
        scheduler.load_state_dict(saved.scheduler)
        done, seconds_before = saved.state.step, saved.state.seconds
        outcome.tokens, outcome.curve = saved.state.tokens, list(saved.state.curve)
        recent.extend(saved.state.recent)
        for _ in range(done):  # the seeded batch order, at its position
            next(order)
        masker.generator.set_state(saved.rng["masker"])
        restore_rng(saved.rng)  # last: nothing may draw from the RNGs after this
    # under a launcher: DDP over the weights that train now (the head alone in a head warmup)
    parallel = DataParallel(model, optimizer, False) if is_distributed() else None
    if parallel is not None:
        optimizer = parallel.optimizer
        # own dropout masks
        torch.manual_seed(settings.seed + 1_000_003 * (parallel.rank + 1) + done)
    save_every = settings.save_every if settings.checkpoint_dir is not None else None
    every = max(total // 20, 1)
    progress = Progress(
        TextColumn("[bold]masked LM"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("{task.fields[speed]:.2f} steps/s"),
        TimeRemainingColumn(),
        console=console,
        disable=settings.quiet,
        transient=True,
    )
    model.train()
    start = time.perf_counter()
    with progress:
        bar = progress.add_task("mlm", total=total, completed=done, loss=0.0, speed=0.0)
        for step in range(done + 1, total + 1):
            # every process masks the whole global batch with the same generator (cheap), so
            # the masking and the token count are those of a single process
            batch = mask_batch(masker, chunks.batch(next(order)))
            count = int((batch["labels"] != -100).sum())
            outcome.tokens += int(batch["attention_mask"].sum())
            if parallel is None:
                batch = {k: v.to(settings.device) for k, v in batch.items()}
                with autocast(settings.precision, settings.device):
                    loss_sum, _ = mlm_loss(model, batch)
                loss = loss_sum / max(count, 1)
                loss.backward()
            else:
                loss = _parallel_step(parallel, model, batch, count, settings)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            recent.append(float(loss.detach()))
            elapsed = time.perf_counter() - start
            if step % every == 0 or step == total:
                outcome.curve.append(
                    {"step": step, "train_loss": round(sum(recent) / len(recent), 4)}
                )
                if settings.on_point is not None:
                    settings.on_point(outcome.curve[-1])
            progress.update(
                bar, advance=1, loss=sum(recent) / len(recent),
                speed=(step - done) / max(elapsed, 1e-9),
            )  # fmt: skip
            if save_every and step % save_every == 0:
                assert settings.checkpoint_dir is not None
                state = MLMLoopState(
                    step, outcome.tokens, seconds_before + elapsed, list(recent),
                    list(outcome.curve), settings.run_state,
                )  # fmt: skip
                save_mlm_checkpoint(
                    settings.checkpoint_dir, state, model, optimizer, scheduler, masker
                )
    outcome.steps = total
    outcome.seconds = seconds_before + time.perf_counter() - start
    outcome.final_train_loss = sum(recent) / max(len(recent), 1)
    if parallel is not None:
        # DDP's gradient hooks live as long as its wrapper: a head warmup's must be gone
        # before the full run wraps the model again
        parallel.accelerator.free_memory()
        del parallel
        gc.collect()
    model.eval()
    return outcome


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
