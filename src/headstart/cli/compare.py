"""``headstart compare``: several strategies, several seeds, one honest report."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.common import (
    ExperimentOption,
    TrackDirOption,
    err_console,
    out_console,
    typed_options,
    user_errors,
)
from headstart.errors import ConfigError


def _sizes(value: str | None) -> tuple[int | None, ...]:
    if not value:
        return ()
    sizes: list[int | None] = []
    for part in value.split(","):
        part = part.strip().lower()
        if part == "all":
            sizes.append(None)
            continue
        try:
            n = int(part)
        except ValueError:
            n = 0
        if n <= 0:
            raise ConfigError(
                f"--train-sizes: '{part}' is not a positive number or 'all' (e.g. 100,300,1000,all)"
            )
        sizes.append(n)
    numbers = sorted(n for n in sizes if n is not None)
    return (*dict.fromkeys(numbers), *([None] if None in sizes else []))


@user_errors
def compare(
    ctx: typer.Context,
    data: Annotated[
        str | None, typer.Option("--data", help="training file or builtin dataset")
    ] = None,
    eval_data: Annotated[str | None, typer.Option(help="evaluation file")] = None,
    test_data: Annotated[
        str | None, typer.Option(help="test file: the comparison's metric is measured on it")
    ] = None,
    strategies: Annotated[
        str,
        typer.Option(
            help="comma-separated: full, partial, head, lora, bitfit, gradual (fit strategies), "
            "tfidf (TF-IDF + logistic regression), scratch (full on random weights)"
        ),
    ] = "full,partial,head,lora,bitfit,gradual,tfidf,scratch",
    seeds: Annotated[int, typer.Option(help="seeds per strategy (42, 43, …)")] = 3,
    output: Annotated[
        str, typer.Option("--output", "-o", help="folder for comparison.json and the reports")
    ] = "runs/compare",
    model: Annotated[str, typer.Option(help="source model, as for fit")] = "minilm",
    train_sizes: Annotated[
        str | None,
        typer.Option(
            help="learning curve: training-set sizes, e.g. 100,300,1000,all (pretrained against "
            "scratch)"
        ),
    ] = None,
    curve_strategy: Annotated[
        str, typer.Option(help="the pretrained strategy of the learning curve")
    ] = "full",
    text_column: Annotated[str | None, typer.Option(help="text column")] = None,
    text_pair_column: Annotated[str | None, typer.Option(help="second text column")] = None,
    label_column: Annotated[str | None, typer.Option(help="label column")] = None,
    max_length: Annotated[int, typer.Option(help="maximum tokens per text")] = 256,
    batch_size: Annotated[int, typer.Option(help="training batch size")] = 32,
    epochs: Annotated[
        int | None, typer.Option(help="epochs for every strategy (default: each its own)")
    ] = None,
    patience: Annotated[int | None, typer.Option(help="early stopping patience")] = None,
    class_weights: Annotated[str | None, typer.Option(help="auto: balanced class weights")] = None,
    cache_dir: Annotated[str | None, typer.Option(help="feature cache folder")] = None,
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
    track: Annotated[
        str | None,
        typer.Option(
            help="log the finished comparison to mlflow (a parent run, a nested run per job; "
            "honours MLFLOW_TRACKING_URI, default sqlite:///mlflow.db here) or tensorboard "
            "(OUTPUT/tensorboard, a folder per job), or both. Needs the track extra"
        ),
    ] = None,
    experiment: ExperimentOption = "headstart",
    track_dir: TrackDirOption = None,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="a YAML or JSON recipe of these options (keys as the options: max_length or "
            "max-length; strategies and train_sizes may be lists); options given here win",
        ),
    ] = None,
) -> None:
    """Train several strategies over several seeds and report quality, cost and variance."""
    values = dict(ctx.params)
    if config_file is not None:  # the recipe, with the options typed here winning
        from headstart.config.recipes import compare_recipe

        given = typed_options(ctx)
        del given["config_file"]
        values |= compare_recipe(config_file, OPTION_TYPES, given)
    if not values["data"]:
        raise ConfigError("--data is required: a training file, or a recipe with --config")
    _compare(values)


def _compare(values: dict[str, Any]) -> None:
    from headstart.comparison.runner import CompareSpec
    from headstart.comparison.runner import compare as run_compare

    data, output, strategies = values["data"], values["output"], values["strategies"]
    spec = CompareSpec(
        data=data,
        eval_data=values["eval_data"],
        test_data=values["test_data"],
        model=values["model"],
        output=Path(output),
        candidates=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        seeds=values["seeds"],
        train_sizes=_sizes(values["train_sizes"]),
        curve_strategy=values["curve_strategy"],
        options={k: values[k] for k in FIT_OPTIONS if values[k] is not None},
        track=values["track"],
        experiment=values["experiment"],
        track_dir=values["track_dir"],
    )
    result = run_compare(spec, err_console)
    s = result["strategies"]
    for name in sorted(s, key=lambda n: s[n]["mean"], reverse=True):
        e = s[name]
        out_console.print(
            f"{name:8} {result['metric']} {e['mean']:.4f} ± {e['std']:.4f}  "
            f"trainable {e['trainable_params']:,}  train {e['train_seconds']:.1f}s  "
            f"peak {e['peak_memory_mb']:,.0f} MB",
            markup=False,
        )
    out_console.print(
        f"{result['jobs']} jobs, {result['wall_seconds'] / 60:.1f} min; report: "
        f"{Path(output) / 'report.html'}",
        markup=False,
    )


# the options every job's fit takes as they are
FIT_OPTIONS = ("text_column", "text_pair_column", "label_column", "max_length", "batch_size",
               "epochs", "patience", "class_weights", "cache_dir", "precision")  # fmt: skip
# each option's type, for checking a recipe's values
OPTION_TYPES = {
    name: hint
    for name, hint in typing.get_type_hints(compare).items()
    if name not in ("ctx", "config_file", "return")
}
