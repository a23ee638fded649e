"""The optimisation every training run shares (fit and masked-LM pretraining): AdamW with no
weight decay on biases and norms, a linear warmup and decay, and gradients clipped to norm 1."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

MAX_GRAD_NORM = 1.0


def no_decay(name: str, param: nn.Parameter) -> bool:
    return param.ndim < 2 or "norm" in name.lower() or name.endswith(".bias")


def build_optimizer(
    model: nn.Module, groups: list[dict[str, Any]], weight_decay: float
) -> torch.optim.AdamW:
    """AdamW over ``groups`` (``{"params": [...], "lr": ...}``), each split in a decayed and a
    plain part."""
    names = {id(p): n for n, p in model.named_parameters()}
    param_groups = []
    for group in groups:
        decay = [p for p in group["params"] if not no_decay(names.get(id(p), ""), p)]
        plain = [p for p in group["params"] if no_decay(names.get(id(p), ""), p)]
        for params, wd in ((decay, weight_decay), (plain, 0.0)):
            if params:
                param_groups.append({"params": params, "lr": group["lr"], "weight_decay": wd})
    # One fused kernel over all parameters instead of a Python loop per tensor: on a CPU the
    # per-tensor loop costs as much as a forward pass of a short batch.
    fused = all(
        p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in model.parameters()
    )
    return torch.optim.AdamW(param_groups, fused=fused or None)


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float) -> Any:
    """The learning rate up from 0 over ``warmup_ratio`` of the steps, then down to 0."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, int(total_steps * warmup_ratio), total_steps)


def optimizer_step(
    trainable: list[nn.Parameter], optimizer: torch.optim.Optimizer, scheduler: Any
) -> None:
    """Clip the gradients, step the optimizer and the schedule, clear the gradients."""
    torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
