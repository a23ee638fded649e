"""Stage 4, build model and plan: the encoder with the task's head, and what the strategy
trains (its learning rates, epochs and frozen layers)."""

from __future__ import annotations

from dataclasses import dataclass

from headstart.config import FitConfig
from headstart.core.env import seed_everything
from headstart.core.reporting import Reporter
from headstart.models.classifier import TextClassifier
from headstart.models.source import load_encoder
from headstart.pipeline.source import Resolved
from headstart.strategies import Plan, StrategyOptions, count_parameters
from headstart.tasks import Task


@dataclass
class Built:
    model: TextClassifier
    plan: Plan
    lr: float  # --lr, or the strategy's default
    head_lr: float
    epochs: int
    trainable: int  # parameters
    total: int


def build_model(config: FitConfig, resolved: Resolved, task: Task, reporter: Reporter) -> Built:
    seed_everything(config.seed)  # before building: random head (and scratch) weights follow --seed
    encoder = load_encoder(
        resolved.source,
        config.trust_remote_code,
        scratch=resolved.scratch,
        attention_dropout=config.attention_dropout,
    )
    pooling = task.head_pooling(config.pooling)
    model = TextClassifier(
        encoder, task.num_outputs, pooling, config.dropout, config.pair_encoding
    ).to(resolved.device)

    strategy = resolved.strategy
    lr = config.lr if config.lr is not None else strategy.lr
    head_lr = config.head_lr if config.head_lr is not None else strategy.head_lr
    epochs = config.epochs if config.epochs is not None else strategy.epochs
    plan = strategy.apply(model, config.freeze_layers, lr, head_lr, strategy_options(config))
    trainable, total = count_parameters(model)
    reporter.info(
        f"model: {config.model} ({type(encoder).__name__}, {plan.num_layers} layers); strategy "
        f"{strategy.name}: trainable params {trainable:,} of {total:,} ({trainable / total:.2%})"
    )
    for note in plan.notes:
        reporter.info(note)
    return Built(model, plan, lr, head_lr, epochs, trainable, total)


def strategy_options(config: FitConfig) -> StrategyOptions:
    return StrategyOptions(
        layer_lr_decay=config.layer_lr_decay,
        lora_rank=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_targets=config.lora_target_names,
    )
