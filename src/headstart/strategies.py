"""Transfer strategies: which weights train, at which learning rate.

A strategy is a small function over the encoder's ordered parameter groups (embeddings,
layer 0 … layer N-1, pooler) plus the head. It sets ``requires_grad`` and returns the
optimizer's parameter groups; nothing else decides what trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from headstart.errors import ConfigError
from headstart.models.classifier import TextClassifier
from headstart.models.layers import parameter_groups


@dataclass
class Plan:
    """What a strategy decided: optimizer groups and how much of the encoder is frozen."""

    optimizer_groups: list[dict[str, Any]]
    frozen_layers: int  # transformer layers frozen from the bottom (embeddings frozen too if > 0)
    encoder_frozen: bool
    num_layers: int


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    lr: float  # default encoder learning rate
    head_lr: float  # default head learning rate
    epochs: int  # default epochs
    apply: Callable[[TextClassifier, int | None, float, float], Plan]


def _set(params: list[nn.Parameter], trainable: bool) -> None:
    for p in params:
        p.requires_grad_(trainable)


def _plan(
    model: TextClassifier, frozen: int, encoder_lr: float, head_lr: float, all_frozen: bool
) -> Plan:
    groups = parameter_groups(model.encoder)
    layer_groups = [g for g in groups if g[0].startswith("layer.")]
    num_layers = len(layer_groups)
    trainable: list[nn.Parameter] = []
    for name, params in groups:
        if all_frozen:
            train = False
        elif name == "embeddings":
            train = frozen == 0
        elif name.startswith("layer."):
            train = int(name.split(".")[1]) >= frozen
        else:  # the pooler trains only when it is used: counts must be honest
            train = model.pooling == "pooler"
        _set(params, train)
        if train:
            trainable.extend(params)
    _set(list(model.head.parameters()), True)
    optimizer_groups = []
    if trainable:
        optimizer_groups.append({"params": trainable, "lr": encoder_lr, "name": "encoder"})
    optimizer_groups.append(
        {"params": list(model.head.parameters()), "lr": head_lr, "name": "head"}
    )
    return Plan(optimizer_groups, num_layers if all_frozen else frozen, all_frozen, num_layers)


def apply_full(model: TextClassifier, freeze_layers: int | None, lr: float, head_lr: float) -> Plan:
    return _plan(model, 0, lr, head_lr, all_frozen=False)


def apply_partial(
    model: TextClassifier, freeze_layers: int | None, lr: float, head_lr: float
) -> Plan:
    num_layers = len([g for g in parameter_groups(model.encoder) if g[0].startswith("layer.")])
    n = num_layers // 2 if freeze_layers is None else freeze_layers
    if not 0 < n < num_layers:
        raise ConfigError(
            f"--freeze-layers must be between 1 and {num_layers - 1} for this {num_layers}-layer "
            f"model, got {n}"
        )
    return _plan(model, n, lr, head_lr, all_frozen=False)


def apply_head(model: TextClassifier, freeze_layers: int | None, lr: float, head_lr: float) -> Plan:
    return _plan(model, 0, lr, head_lr, all_frozen=True)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("full", "update every encoder weight and the head", 1e-4, 1e-3, 3, apply_full),
        Strategy(
            "partial",
            "freeze the embeddings and the lowest N layers (default half), train the rest",
            1.5e-4,
            1e-3,
            4,
            apply_partial,
        ),
        # The head alone sees fixed features: it wants a much higher learning rate, and since
        # features are computed once, many epochs cost almost nothing.
        Strategy(
            "head", "freeze the whole encoder, train only the head", 0.0, 5e-3, 30, apply_head
        ),
    )
}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy '{name}'; choose one of: {', '.join(STRATEGIES)}"
        ) from None


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
