"""Stage 6, inputs and caches: what training reads each step (token ids, or the frozen
part's outputs computed once and cached), and a bi-encoder head's starting point."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.engine import caching
from headstart.engine.training import (
    FeatureInputs,
    Inputs,
    PrefixInputs,
    TokenFeatureInputs,
    TokenInputs,
)
from headstart.models.classifier import TextClassifier
from headstart.models.cosine_start import start_head_from_cosine
from headstart.pipeline.data import bi_encoder
from headstart.pipeline.encode import Encoding
from headstart.pipeline.model import Built
from headstart.pipeline.source import Resolved
from headstart.tasks import Task


@dataclass
class Prepared:
    inputs: Inputs
    cache_seconds: float  # computing (or reading) cached encoder outputs


def prepare_inputs(
    config: FitConfig,
    resolved: Resolved,
    built: Built,
    task: Task,
    encoding: Encoding,
    reporter: Reporter,
) -> Prepared:
    started = time.perf_counter()
    plan = built.plan
    inputs, note = make_inputs(
        built.model, encoding.encoded, plan.frozen_layers, plan.encoder_frozen, config,
        resolved.cache_precision, resolved.device,
    )  # fmt: skip
    cache_seconds = time.perf_counter() - started
    if note:
        reporter.info(note + f" ({cache_seconds:.1f} s)")
    if bi_encoder(config):  # head: the cached features already hold the cosines
        cached = inputs.features["train"] if isinstance(inputs, FeatureInputs) else None
        note = start_head_from_cosine(
            built.model, encoding.encoded["train"], encoding.targets["train"], task,
            resolved.cache_precision, resolved.device, config.seed, cached,
        )  # fmt: skip
        if note:
            reporter.info(note)
    return Prepared(inputs, cache_seconds)


def make_inputs(
    model: TextClassifier,
    encoded: dict[str, Any],
    frozen: int,
    encoder_frozen: bool,
    config: FitConfig,
    precision: str,
    device: str,
) -> tuple[Inputs, str]:
    """The inputs of training and a console note on what was cached ("" for nothing)."""
    if not config.cache or (frozen == 0 and not encoder_frozen):
        return TokenInputs(model, encoded, device), ""
    directory = Path(config.cache_dir) if config.cache_dir else caching.default_cache_dir()
    ctx = caching.CacheContext(
        directory, caching.weights_fingerprint(model.encoder), precision, device, batch_size=64
    )
    if encoder_frozen and model.pooling == "tokens":
        states = {k: caching.token_states(model, v, ctx) for k, v in encoded.items()}
        note = f"frozen encoder: token states cached ({ctx.hits} reused, {ctx.misses} computed)"
        return TokenFeatureInputs(model, states, device), note
    if encoder_frozen:
        features = {k: caching.pooled_features(model, v, ctx) for k, v in encoded.items()}
        note = f"frozen encoder: pooled features cached ({ctx.hits} reused, {ctx.misses} computed)"
        return FeatureInputs(model, features, device), note
    if bi_encoder(config):  # stored states would need both texts of every pair
        return TokenInputs(model, encoded, device), (
            "frozen layers: not cached for --pair-encoding bi; the whole encoder runs each step"
        )
    if not caching.check_suffix_matches(model, encoded["eval"], frozen, device):
        return TokenInputs(model, encoded, device), (
            "frozen layers: cached states do not reproduce this architecture; training uncached"
        )
    states = {k: caching.prefix_states(model, v, frozen, ctx) for k, v in encoded.items()}
    note = (
        f"frozen layers 0-{frozen - 1}: hidden states cached in bf16 "
        f"({ctx.hits} reused, {ctx.misses} computed)"
    )
    return PrefixInputs(model, states, frozen, device), note
