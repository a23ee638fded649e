"""``headstart fit``: fine-tune a source model on labelled data."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any

import typer

from headstart.cli.common import (
    ExperimentOption,
    TrackDirOption,
    out_console,
    typed_options,
    user_errors,
)
from headstart.config import FitConfig
from headstart.core.distributed import is_main
from headstart.errors import ConfigError
from headstart.strategies import STRATEGIES

STRATEGY_HELP = "; ".join(f"{s.name}: {s.summary}" for s in STRATEGIES.values())


@user_errors
def fit(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="training file (CSV/TSV/JSONL/JSON/Parquet) or builtin dataset: bbc-news "
            "(required unless --config gives it)",
        ),
    ] = None,
    eval_data: Annotated[
        str | None,
        typer.Option(help="evaluation file; default: a stratified --eval-fraction of --data"),
    ] = None,
    test_data: Annotated[
        str | None, typer.Option(help="test file, evaluated once with the best epoch")
    ] = None,
    model: Annotated[
        str, typer.Option(help="hub id, local folder, 'minilm' (packaged default) or scratch:M")
    ] = "minilm",
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)] = "full",
    freeze_layers: Annotated[
        int | None, typer.Option(help="partial: transformer layers to freeze (default half)")
    ] = None,
    pooling: Annotated[str, typer.Option(help="mean (default), cls or pooler")] = "mean",
    task: Annotated[
        str | None,
        typer.Option(
            help="classification, multilabel, regression or tokens (default: detected from the "
            "data: lists mean multilabel, fractional numbers regression, CoNLL files or JSONL "
            "with tokens and tags mean tokens)"
        ),
    ] = None,
    tag_column: Annotated[
        str | None,
        typer.Option(
            help="tokens: the tag column of a CoNLL file, counted from 0 (the word; default: the "
            "last), or the tags field of JSON rows (default: tags)"
        ),
    ] = None,
    case_markers: Annotated[
        bool | None,
        typer.Option(
            "--case-markers/--no-case-markers",
            help="tokens: a marker token before capitalised words, so that a lower-casing "
            "tokenizer still sees case (default: on wherever the tokenizer lower-cases and "
            "the encoder is trained, that is every strategy but head)",
        ),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="text column (default: text or sentence)")
    ] = None,
    text_pair_column: Annotated[
        str | None, typer.Option(help="second text of sentence pairs, e.g. '#2 String'")
    ] = None,
    pair_swap: Annotated[
        bool,
        typer.Option(
            help="sentence pairs: also train on every pair with its two texts swapped (for "
            "symmetric tasks such as similarity or paraphrase; not for entailment)"
        ),
    ] = False,
    pair_encoding: Annotated[
        str,
        typer.Option(
            help="sentence pairs: cross (default: one input, the texts attend to each other) or "
            "bi (each text encoded apart, their vectors compared; as sentence-transformers)"
        ),
    ] = "cross",
    label_column: Annotated[
        str | None, typer.Option(help="label column (default: label, labels, score, …)")
    ] = None,
    label_separator: Annotated[
        str | None, typer.Option(help="multi-label: split string labels on this, e.g. ','")
    ] = None,
    threshold: Annotated[float, typer.Option(help="multi-label decision threshold")] = 0.5,
    tune_threshold: Annotated[
        bool, typer.Option(help="multi-label: choose the threshold on the eval split (macro-F1)")
    ] = False,
    encoding: Annotated[str, typer.Option(help="text encoding of the data files")] = "utf-8",
    eval_fraction: Annotated[
        float, typer.Option(help="share of --data held out when no --eval-data")
    ] = 0.1,
    strict: Annotated[
        bool, typer.Option(help="refuse rows with empty text or label instead of skipping them")
    ] = False,
    epochs: Annotated[int | None, typer.Option(help="epochs (default per strategy)")] = None,
    lr: Annotated[
        float | None, typer.Option(help="encoder learning rate (default per strategy)")
    ] = None,
    head_lr: Annotated[
        float | None, typer.Option(help="head learning rate (default per strategy)")
    ] = None,
    layer_lr_decay: Annotated[
        float | None,
        typer.Option(
            help="full, partial, gradual: each layer below the top trains at F x the lr of the "
            "one above (e.g. 0.8)"
        ),
    ] = None,
    lora_rank: Annotated[int, typer.Option(help="lora: rank of the adapters")] = 8,
    lora_alpha: Annotated[
        float | None, typer.Option(help="lora: scaling alpha (default 2 x rank)")
    ] = None,
    lora_targets: Annotated[
        str | None,
        typer.Option(
            help="lora: module names to adapt, comma-separated (default: every linear layer in "
            "the encoder's blocks, found by structure)"
        ),
    ] = None,
    unfreeze_every: Annotated[
        str | None,
        typer.Option(
            help="gradual: unfreeze the next layer every N epochs ('1', '0.5') or steps "
            "('40steps'); default 0.5 epochs"
        ),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(help="stop after N epochs without a better eval score (early stopping)"),
    ] = None,
    class_weights: Annotated[
        str | None,
        typer.Option(help="auto: weigh the loss of each class by its rarity (imbalanced labels)"),
    ] = None,
    calibrate: Annotated[
        bool,
        typer.Option(help="classification: fit a softmax temperature on the eval split"),
    ] = True,
    train_size: Annotated[
        int | None,
        typer.Option(help="train on a stratified, seeded subset of N training examples"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="training batch size")] = 32,
    max_length: Annotated[int, typer.Option(help="maximum tokens per text")] = 256,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay")] = 0.01,
    warmup_ratio: Annotated[float, typer.Option(help="share of steps for linear warmup")] = 0.1,
    dropout: Annotated[float, typer.Option(help="dropout before the head")] = 0.1,
    attention_dropout: Annotated[
        float,
        typer.Option(
            help="dropout on attention probabilities; -1 keeps the model's own (0.1 for BERT). "
            "0 (default) makes CPU training at 256 tokens ~3x faster"
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="seed for the head, data order and splits")] = 42,
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
    cache: Annotated[
        bool, typer.Option(help="cache frozen-encoder outputs (--no-cache: plain behaviour)")
    ] = True,
    cache_dir: Annotated[
        str | None, typer.Option(help="feature cache folder (default ~/.cache/headstart)")
    ] = None,
    track: Annotated[
        str | None,
        typer.Option(
            help="log settings, per-epoch metrics and the run's files to mlflow (honours "
            "MLFLOW_TRACKING_URI; default sqlite:///mlflow.db here) or tensorboard "
            "(RUN_DIR/tensorboard), or both: mlflow,tensorboard. Needs the track extra"
        ),
    ] = None,
    experiment: ExperimentOption = "headstart",
    track_dir: TrackDirOption = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="run folder (default runs/<time>-<data>-<strategy>)"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --output folder")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option(help="allow a hub model to run its own code")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    save_every: Annotated[
        int | None,
        typer.Option(
            help="write a checkpoint every N optimizer steps into RUN_DIR/checkpoints (the last "
            "2 are kept); --resume RUN_DIR continues from the latest"
        ),
    ] = None,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="YAML or JSON recipe of these options (keys: max_length or max-length), or a "
            "run folder's config.json; options given here win over the file",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="continue the interrupted run in this folder from its latest checkpoint, with "
            "its saved config.json"
        ),
    ] = None,
) -> None:
    """Fine-tune a pretrained encoder with a new head on labelled text."""
    from headstart.api import fit as run_fit
    from headstart.tasks.metrics import headline

    given = _given_options(ctx)
    if resume is not None:
        others = [f"--{k.replace('_', '-')}" for k in given if k != "quiet"]
        if others or config_file:
            raise ConfigError(
                f"--resume continues {resume} with the settings in its config.json; drop "
                f"{(others or ['--config'])[0]}"
            )
        result = run_fit(resume=resume, quiet=quiet)
    else:
        result = run_fit(_fit_config(config_file, given, locals()))
    if not is_main():  # under accelerate launch the main process reports
        return
    m = result.metrics
    final = "test" if "test" in m else "eval"
    out_console.print(
        f"{final} {headline(m[final], m['task'])}  "
        f"trainable {m['trainable_params']:,}/{m['total_params']:,}  "
        f"train {m['train_seconds']:.1f}s  run folder {result.run_dir}"
    )


def _given_options(ctx: typer.Context) -> dict[str, Any]:
    """The FitConfig settings the user gave, so that a recipe's values are kept where the
    command line says nothing."""
    given = {k: v for k, v in typed_options(ctx).items() if k in FIELDS}
    if given.get("attention_dropout") is not None and given["attention_dropout"] < 0:
        given["attention_dropout"] = None  # -1: the model's own
    return given


def _fit_config(
    config_file: str | None, given: dict[str, Any], values: dict[str, Any]
) -> FitConfig:
    from headstart.config.recipes import recipe_config

    if config_file is not None:
        return recipe_config(config_file, given)
    if values["data"] is None:
        raise ConfigError("--data is required: a training file, or a recipe with --config")
    return _from_options(values)


FIELDS = {f.name for f in fields(FitConfig)}


def _from_options(options: dict[str, Any]) -> FitConfig:
    values = {name: value for name, value in options.items() if name in FIELDS}
    if values["attention_dropout"] is not None and values["attention_dropout"] < 0:
        values["attention_dropout"] = None  # -1: the model's own
    return FitConfig(**values)
