"""The fit pipeline: model, data, task, plan, encoding, inputs, training, post-fit steps,
metrics, and the run folder. ``headstart.api.fit`` calls it."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from headstart.config import FitConfig, parse_unfreeze_every
from headstart.core.distributed import is_main, world_size
from headstart.core.env import peak_rss_mb, quiet_transformers, seed_everything
from headstart.core.precision import pick_device, resolve_precision
from headstart.data.batching import Encoded, encode
from headstart.data.labelled import LabelledSplit, Splits, load_splits, stratified_split
from headstart.data.tagged import looks_tagged
from headstart.data.windows import case_marker_ids, encode_words
from headstart.engine import caching
from headstart.engine.checkpoints import resume_point
from headstart.engine.training import (
    FeatureInputs,
    Inputs,
    PrefixInputs,
    TokenFeatureInputs,
    TokenInputs,
    TrainSettings,
    predict_logits,
    train,
)
from headstart.errors import ConfigError
from headstart.models.classifier import TextClassifier
from headstart.models.cosine_start import start_head_from_cosine
from headstart.models.source import load_encoder, load_tokenizer, resolve
from headstart.runs.folder import StagedRun, write_json
from headstart.runs.modelcard import write_model_card
from headstart.runs.report import run_report
from headstart.strategies import StrategyOptions, count_parameters, get_strategy
from headstart.tasks import ClassificationTask, MultiLabelTask, RegressionTask, Task, TokenTask
from headstart.tasks.calibration import calibrate
from headstart.tasks.imbalance import weighted_loss


@dataclass
class Trained:
    """A trained model in memory, before any run folder: what ``compare`` keeps of a run."""

    model: TextClassifier
    tokenizer: Any
    meta: dict[str, Any]
    metrics: dict[str, Any]


def train_model(
    config: FitConfig,
    console: Console,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> Trained:
    """Everything ``fit`` does except writing the run folder. ``on_epoch`` gets each epoch's
    history record (tracking, pruning: an exception it raises ends training). ``checkpoints``:
    the folder for ``--save-every`` checkpoints; ``resume`` goes on from the latest there."""
    quiet_transformers()
    strategy = get_strategy(config.strategy)
    device = pick_device()
    # a bad --precision fails before any work; caches are inference, where bf16 always pays
    cache_precision = resolve_precision(config.precision, device)

    # The model is looked up first: a bad --model fails before any output.
    scratch = config.model.startswith("scratch:")
    source = resolve(config.model.removeprefix("scratch:"))
    words = config.task == "tokens" or (config.task is None and looks_tagged(config.data))
    tokenizer = load_tokenizer(source, config.trust_remote_code, words=words)

    splits = read_splits(config)
    for split in (splits.train, splits.eval, splits.test):
        if split is not None and split.skipped:
            console.print(
                f"[yellow]warning:[/] skipped {split.skipped} {split.name} rows with empty text or "
                f"label ({', '.join(split.skipped_where[:5])}{' …' if split.skipped > 5 else ''}); "
                f"--strict refuses them instead"
            )
    labels = splits.labels.names
    task, what = _make_task(splits, config)
    detected = "" if config.task else " (detected from the data; --task overrides)"
    unit = "sentences" if task.name == "tokens" else "sentence pairs" if splits.train.pairs else ""
    console.print(
        f"data: {len(splits.train)} train, {len(splits.eval)} eval"
        + (f", {len(splits.test)} test" if splits.test else "")
        + (f" {unit}" if unit else "")
        + f"; task {what}{detected}",
        markup=False,
    )
    if splits.converted_tags:
        console.print(f"tags: {splits.converted_tags:,} IOB1 tags converted to BIO", markup=False)

    seed_everything(config.seed)  # before building: random head (and scratch) weights follow --seed
    encoder = load_encoder(
        source,
        config.trust_remote_code,
        scratch=scratch,
        attention_dropout=config.attention_dropout,
    )
    pooling = "tokens" if task.name == "tokens" else config.pooling
    model = TextClassifier(
        encoder, task.num_outputs, pooling, config.dropout, config.pair_encoding
    ).to(device)

    lr = config.lr if config.lr is not None else strategy.lr
    head_lr = config.head_lr if config.head_lr is not None else strategy.head_lr
    epochs = config.epochs if config.epochs is not None else strategy.epochs
    strategy_options = StrategyOptions(
        layer_lr_decay=config.layer_lr_decay,
        lora_rank=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_targets=config.lora_target_names,
    )
    plan = strategy.apply(model, config.freeze_layers, lr, head_lr, strategy_options)
    trainable, total = count_parameters(model)
    console.print(
        f"model: {config.model} ({type(encoder).__name__}, {plan.num_layers} layers); strategy "
        f"{strategy.name}: trainable params {trainable:,} of {total:,} ({trainable / total:.2%})"
    )
    for note in plan.notes:
        console.print(note, markup=False)

    markers = _case_markers(task, tokenizer, config.case_markers, plan.encoder_frozen)
    if markers is not None:
        console.print(
            "case markers: a marker token before capitalised and all-capitals words (the "
            "tokenizer lower-cases them); --no-case-markers turns this off",
            markup=False,
        )
    encoded, label_ids = _encode_splits(
        splits, task, tokenizer, config.max_length, config.pair_encoding == "bi", markers
    )
    if isinstance(task, TokenTask):
        windows, sentences = len(encoded["train"]), len(splits.train)
        if windows > sentences:
            console.print(
                f"windows: {windows - sentences} train sentences longer than --max-length "
                f"{config.max_length} tokens are split into overlapping windows "
                f"({windows} windows)",
                markup=False,
            )
    median_tokens = float(np.median(encoded["train"].lengths))
    precision = resolve_precision(config.precision, device, median_tokens)

    cache_started = time.perf_counter()
    inputs, cache_note = _make_inputs(
        model, encoded, plan.frozen_layers, plan.encoder_frozen, config, cache_precision, device
    )
    cache_seconds = time.perf_counter() - cache_started
    if cache_note:
        console.print(cache_note + f" ({cache_seconds:.1f} s)")

    if model.pair_encoding == "bi":  # head: the cached features already hold the cosines
        cached = inputs.features["train"] if isinstance(inputs, FeatureInputs) else None
        note = start_head_from_cosine(
            model, encoded["train"], label_ids["train"], task, cache_precision, device,
            config.seed, cached,
        )  # fmt: skip
        if note:
            console.print(note, markup=False)

    settings = TrainSettings(
        epochs=epochs,
        batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        seed=config.seed,
        precision=precision,
        device=device,
        quiet=config.quiet,
        patience=config.patience,
        on_step=on_step,
        on_epoch=on_epoch,
    )
    if checkpoints is not None:  # the main process writes them; every process resumes
        settings.save_every = config.save_every
        settings.checkpoint_dir = checkpoints if is_main() else None
        settings.resume = resume_point(checkpoints, console) if resume else None
    extra: dict[str, Any] = {}
    if plan.stages:
        settings.stages = plan.stages
        settings.stage_steps = _stage_steps(config, len(encoded["train"]), plan.num_layers)
        extra["unfreeze_every_steps"] = settings.stage_steps
        console.print(
            f"gradual: head only first, then one more layer every {settings.stage_steps} steps",
            markup=False,
        )
    if config.class_weights == "auto":
        settings.loss, weights = weighted_loss(task, label_ids["train"])
        extra["class_weights"] = [round(w, 4) for w in weights]
    outcome = train(model, inputs, label_ids, plan.optimizer_groups, settings, task, console)
    train_seconds = outcome.train_seconds + cache_seconds
    if plan.finish is not None:
        plan.finish(model)  # lora: adapters merged; evaluation below uses the merged model

    if isinstance(task, MultiLabelTask) and config.tune_threshold:
        eval_logits = predict_logits(inputs, "eval", settings.eval_batch_size, precision, device)
        own = task.tune_threshold(eval_logits, label_ids["eval"])
        console.print(
            f"decision thresholds tuned on the eval split: {task.threshold:.3f} overall; "
            f"{own} of {len(task.labels)} labels have {task.MIN_POSITIVES}+ eval examples and "
            f"their own threshold",
            markup=False,
        )
    results: dict[str, Any] = {}
    final_logits: dict[str, torch.Tensor] = {}
    for split in ("eval", "test"):
        if split in encoded:
            logits = predict_logits(inputs, split, settings.eval_batch_size, precision, device)
            results[split] = task.metrics(logits, label_ids[split])
            final_logits[split] = logits
    if config.calibrate and isinstance(task, ClassificationTask):
        test = ("test", label_ids.get("test"))
        extra["calibration"] = calibrate(
            final_logits["eval"],
            label_ids["eval"],
            (final_logits["test"], test[1]) if "test" in final_logits else None,
        )
        c = extra["calibration"]
        console.print(
            f"calibration: temperature {c['temperature']:.3f}, eval ECE "
            f"{c['eval_ece_before']:.4f} → {c['eval_ece_after']:.4f}",
            markup=False,
        )

    metrics: dict[str, Any] = {
        **results,
        "model": config.model,
        "data": config.data,
        "strategy": strategy.name,
        "strategy_summary": strategy.summary,
        "frozen_layers": plan.frozen_layers,
        "num_layers": plan.num_layers,
        "trainable_params": trainable,
        "total_params": total,
        "train_seconds": round(train_seconds, 2),
        "cache_seconds": round(cache_seconds, 2),
        "epochs": epochs,
        "epochs_run": len(outcome.history),
        "best_epoch": outcome.best_epoch,
        "stopped_early": outcome.stopped_early,
        "patience": config.patience,
        "layer_lr_decay": config.layer_lr_decay,
        **({"pair_swap": True} if config.pair_swap else {}),
        **({"pair_encoding": "bi"} if config.pair_encoding == "bi" else {}),
        **({"case_markers": True} if markers is not None else {}),
        **(
            {"lora": {"rank": config.lora_rank, "alpha": config.lora_alpha or 2 * config.lora_rank}}
            if strategy.name == "lora"
            else {}
        ),
        **extra,
        "lr": lr,
        "head_lr": head_lr,
        "precision": precision,
        "cache_precision": cache_precision,
        "device": device,
        "processes": world_size(),  # > 1 under accelerate launch
        "peak_rss_mb": peak_rss_mb(),
        "examples": {k: len(v) for k, v in splits_by_name(splits).items()},
        "skipped_rows": splits.skipped,
        "task": task.name,
        "labels": labels,
        "history": outcome.history,
    }
    meta = task.meta() | {
        "base_model": config.model,
        "strategy": config.strategy,
        "max_length": config.max_length,
        "pairs": splits.train.pairs is not None,
    }
    if markers is not None:  # the predictor puts the same markers in
        meta["case_markers"] = True
    if "calibration" in extra:  # the predictor divides logits by it: calibrated scores
        meta["temperature"] = extra["calibration"]["temperature"]
    return Trained(model, tokenizer, meta, metrics)


def read_splits(config: FitConfig) -> Splits:
    """The labelled splits ``config`` names, with ``--train-size`` applied."""
    splits = load_splits(
        config.data,
        config.eval_data,
        config.test_data,
        text_column=config.text_column,
        label_column=config.label_column,
        encoding=config.encoding,
        eval_fraction=config.eval_fraction,
        strict=config.strict,
        seed=config.seed,
        pair_column=config.text_pair_column,
        task=config.task,
        label_separator=config.label_separator,
        tag_column=config.tag_column,
    )
    if config.train_size is not None:
        subsample_train(splits, config.train_size, config.seed)
    if config.pair_encoding == "bi" and splits.train.pairs is None:
        raise ConfigError(
            "--pair-encoding bi needs sentence pairs: name the second text with --text-pair-column"
        )
    if config.pair_swap:
        swap_pairs(splits.train)
    return splits


def swap_pairs(split: LabelledSplit) -> None:
    """Add every pair the other way round (text ↔ pair, same label): a symmetric task learns
    that the order does not matter, from twice the examples."""
    if split.pairs is None:
        raise ConfigError(
            "--pair-swap needs sentence pairs: name the second text with --text-pair-column"
        )
    texts, pairs = list(split.texts), list(split.pairs)
    split.texts, split.pairs = texts + pairs, pairs + texts
    split.labels = list(split.labels) * 2
    if split.where is not None:
        split.where = split.where + [f"{w} (swapped)" for w in split.where]


def subsample_train(splits: Splits, size: int, seed: int) -> None:
    """Keep a stratified, seeded ``size`` of the training examples (learning curves)."""
    n = len(splits.train)
    if size >= n:
        return
    if size < len(splits.labels.names):
        raise ConfigError(
            f"--train-size {size} is smaller than the number of classes "
            f"({len(splits.labels.names)})"
        )
    stratify = splits.task == "classification"
    _, subset = stratified_split(splits.train, size / n, seed, stratify=stratify)
    subset.name, subset.skipped = "train", splits.train.skipped
    splits.train = subset


def _stage_steps(config: FitConfig, train_rows: int, num_layers: int) -> int:
    """Steps per gradual stage from --unfreeze-every (default: every half epoch)."""
    amount, unit = parse_unfreeze_every(config.unfreeze_every or "0.5epochs")
    if unit == "steps":
        return int(amount)
    return max(1, round(amount * math.ceil(train_rows / config.batch_size)))


def splits_by_name(splits: Splits) -> dict[str, LabelledSplit]:
    named = {"train": splits.train, "eval": splits.eval, "test": splits.test}
    return {name: split for name, split in named.items() if split is not None}


def _make_task(splits: Splits, config: FitConfig) -> tuple[Task, str]:
    """The task and a one-line description of it for the console."""
    labels = splits.labels.names
    shown = ", ".join(labels[:10]) + (" …" if len(labels) > 10 else "")
    if splits.task == "multilabel":
        return MultiLabelTask(
            labels, config.threshold
        ), f"multi-label, {len(labels)} labels: {shown}"
    if splits.task == "regression":
        values = splits.train.labels
        what = f"regression, training targets {min(values):g} to {max(values):g}"
        return RegressionTask.fit(values), what
    if splits.task == "tokens":
        task = TokenTask(labels)
        if task.entities:
            kinds = sorted({t[2:] for t in labels if t != "O"})
            return task, f"tokens, entity tags (BIO) of {len(kinds)} types: {', '.join(kinds)}"
        return task, f"tokens, {len(labels)} word tags: {shown}"
    return ClassificationTask(labels), f"{splits.task}, {len(labels)} classes: {shown}"


def _case_markers(
    task: Task, tokenizer: Any, wanted: bool | None, encoder_frozen: bool
) -> tuple[int, int] | None:
    """Case marker ids for a token task: by default wherever the tokenizer lower-cases and the
    encoder is trained (a frozen one never learns what the markers mean: on CoNLL-2003 they
    cost ``head`` 2.6 points of F1, and gave ``full`` 1.8)."""
    if not isinstance(task, TokenTask):
        if wanted:
            raise ConfigError("--case-markers is for token classification (--task tokens)")
        return None
    if wanted is False or (wanted is None and encoder_frozen):
        return None
    markers = case_marker_ids(tokenizer)
    if markers is None and wanted:
        raise ConfigError(
            "--case-markers: this tokenizer keeps case itself or has no [unused1]/[unused2] "
            "entries; leave the option out"
        )
    return markers


def _encode_splits(
    splits: Splits,
    task: Task,
    tokenizer: Any,
    max_length: int,
    apart: bool = False,
    markers: tuple[int, int] | None = None,
) -> tuple[dict[str, Encoded], dict[str, Any]]:
    """Token ids and targets of every split. Token classification encodes words into windows
    and aligns each word's tag with its first sub-token (``markers``: case markers before
    capitalised words). ``apart``: the two texts of a pair are encoded separately
    (bi-encoder)."""
    encoded: dict[str, Encoded] = {}
    targets: dict[str, Any] = {}
    for name, split in splits_by_name(splits).items():
        if isinstance(task, TokenTask):
            windows = encode_words(tokenizer, split.texts, max_length, markers)
            encoded[name] = windows.encoded
            targets[name] = task.window_targets(
                windows.positions, windows.words, windows.encoded.lengths, split.labels
            )
        else:
            encoded[name] = encode(tokenizer, split.texts, max_length, split.pairs, apart)
            targets[name] = task.targets(split.labels)
    return encoded, targets


def _make_inputs(
    model: TextClassifier,
    encoded: dict[str, Any],
    frozen: int,
    encoder_frozen: bool,
    config: FitConfig,
    precision: str,
    device: str,
) -> tuple[Inputs, str]:
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
    if model.pair_encoding == "bi":  # stored states would need both texts of every pair
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


def write_run(
    run_dir: Path,
    config: FitConfig,
    model: TextClassifier,
    tokenizer: Any,
    meta: dict[str, Any],
    metrics: dict[str, Any],
    add_files: Callable[[Path, dict[str, Any]], None] | None = None,
    checkpoints: Path | None = None,
) -> None:
    if not is_main():  # under accelerate launch, one process writes
        return
    # a checkpointed run owns its folder already (config.json and checkpoints/ in it)
    with StagedRun(run_dir, config.overwrite or checkpoints is not None) as stage:
        (stage / "model").mkdir()
        model.save(stage / "model", tokenizer, meta)
        write_json(stage / "metrics.json", metrics)
        config.save(stage / "config.json")
        (stage / "report.md").write_text(run_report(metrics))
        write_model_card(stage, config, metrics, meta, run_dir)  # README.md, HF convention
        if add_files is not None:  # tensorboard/ from --track
            add_files(stage, metrics)
        if checkpoints is not None and checkpoints.is_dir():  # kept: the last two
            os.replace(checkpoints, stage / "checkpoints")
