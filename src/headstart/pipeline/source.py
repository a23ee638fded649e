"""Stage 1, resolve model: the strategy, device, precision, model source and tokenizer a run
uses. Each of them fails here, before any output: a bad ``--model`` costs no data reading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headstart.config import FitConfig
from headstart.core.env import quiet_transformers
from headstart.core.precision import pick_device, resolve_precision
from headstart.data.tagged import looks_tagged
from headstart.models.source import SourceModel, load_tokenizer, resolve
from headstart.strategies import Strategy, get_strategy
from headstart.tasks import TASKS


@dataclass
class Resolved:
    strategy: Strategy
    device: str
    cache_precision: str  # of cached encoder outputs: inference, where bf16 always pays
    source: SourceModel
    scratch: bool  # ``scratch:M``: M's architecture with random weights
    tokenizer: Any


def resolve_model(config: FitConfig) -> Resolved:
    quiet_transformers()
    strategy = get_strategy(config.strategy)
    device = pick_device()
    cache_precision = resolve_precision(config.precision, device)  # a bad --precision fails
    scratch = config.model.startswith("scratch:")
    source = resolve(config.model.removeprefix("scratch:"))
    tokenizer = load_tokenizer(source, config.trust_remote_code, words=takes_words(config))
    return Resolved(strategy, device, cache_precision, source, scratch, tokenizer)


def takes_words(config: FitConfig) -> bool:
    """Whether the tokenizer will be given pre-split words: the task says so, or, with no
    ``--task``, the data looks tagged (one word and its tag per line)."""
    if config.task is None:
        return looks_tagged(config.data)
    return TASKS[config.task].takes_words
