"""The masked-LM loop: AdamW with linear warmup and decay over packed chunks, fresh masking in
every batch, and the held-out loss on a masking fixed once so that before and after compare."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from headstart.precision import autocast
from headstart.pretraining.corpus import Chunks
from headstart.pretraining.mlm import make_masker, mask_batch, mlm_loss
from headstart.training import build_optimizer


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
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode(), autocast(settings.precision, settings.device):
        for batch in held.batches:
            loss_sum, n = mlm_loss(model, {k: v.to(settings.device) for k, v in batch.items()})
            total += float(loss_sum)
            count += n
    return total / max(count, 1)


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
    order = batches(len(chunks), settings.batch_size, settings.seed)
    with progress:
        bar = progress.add_task("mlm", total=total, loss=0.0, speed=0.0)
        for step in range(1, total + 1):
            batch = mask_batch(masker, chunks.batch(next(order)))
            batch = {k: v.to(settings.device) for k, v in batch.items()}
            with autocast(settings.precision, settings.device):
                loss_sum, count = mlm_loss(model, batch)
            loss = loss_sum / max(count, 1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            outcome.tokens += int(batch["attention_mask"].sum())
            recent.append(float(loss.detach()))
            elapsed = time.perf_counter() - start
            if step % every == 0 or step == total:
                outcome.curve.append(
                    {"step": step, "train_loss": round(sum(recent) / len(recent), 4)}
                )
            progress.update(
                bar, advance=1, loss=sum(recent) / len(recent), speed=step / max(elapsed, 1e-9)
            )
    outcome.steps = total
    outcome.seconds = time.perf_counter() - start
    outcome.final_train_loss = sum(recent) / max(len(recent), 1)
    model.eval()
    return outcome
