"""Settings that only some strategies read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StrategyOptions:
    """Settings only some strategies read."""

    layer_lr_decay: float | None = None  # full, partial, gradual: lr x F per layer down
    lora_rank: int = 8
    lora_alpha: float | None = None  # default: 2 x rank
    lora_targets: tuple[str, ...] | None = None  # default: every linear layer in the blocks
    lora_dropout: float = 0.05
