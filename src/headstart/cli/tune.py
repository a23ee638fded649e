"""``headstart tune``: search strategies and their settings with Optuna; write the best as a
recipe for ``fit --config``."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.common import err_console, out_console, user_errors
from headstart.config import FitConfig


@user_errors
def tune(
    data: Annotated[str, typer.Option("--data", help="training file or builtin dataset")],
    eval_data: Annotated[
        str | None,
        typer.Option(help="evaluation file: trials are scored on it (default: part of --data)"),
    ] = None,
    test_data: Annotated[
        str | None,
        typer.Option(help="test file: not used by the search, written into best.yaml for fit"),
    ] = None,
    trials: Annotated[int, typer.Option(help="trials to run in this invocation")] = 20,
    strategies: Annotated[
        str, typer.Option(help="comma-separated strategies to search among")
    ] = "head,partial",
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL (default sqlite:///OUTPUT/tune.db). Workers running the same "
            "command with one shared --storage (e.g. postgresql://…) add to one study"
        ),
    ] = None,
    study_name: Annotated[
        str | None, typer.Option(help="study name (default <data stem>-<model>)")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="folder for best.yaml, trials.csv, tune.db")
    ] = "tune",
    model: Annotated[str, typer.Option(help="source model, as for fit")] = "minilm",
    text_column: Annotated[str | None, typer.Option(help="text column")] = None,
    text_pair_column: Annotated[str | None, typer.Option(help="second text column")] = None,
    label_column: Annotated[str | None, typer.Option(help="label column")] = None,
    task: Annotated[str | None, typer.Option(help="as for fit (default: detected)")] = None,
    max_length: Annotated[int, typer.Option(help="maximum tokens per text")] = 256,
    seed: Annotated[int, typer.Option(help="seed of every trial (and of best.yaml)")] = 42,
    sampler_seed: Annotated[
        int | None, typer.Option(help="seed of the sampler (one worker: a repeatable search)")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="reuse frozen-encoder outputs across trials (--no-cache: off)")
    ] = True,
    cache_dir: Annotated[
        str | None, typer.Option(help="feature cache folder (default ~/.cache/headstart)")
    ] = None,
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
) -> None:
    """Search strategies, learning rates, epochs, batch size, frozen layers and LoRA rank with
    Optuna (pruning weak trials per epoch); write the best as DIR/best.yaml for fit --config."""
    from rich.table import Table

    from headstart.comparison.tuning import TuneSettings
    from headstart.comparison.tuning import tune as run_tune

    base = FitConfig(
        data=data, eval_data=eval_data, test_data=test_data, model=model, text_column=text_column,
        text_pair_column=text_pair_column, label_column=label_column, task=task,
        max_length=max_length, seed=seed, cache=cache, cache_dir=cache_dir, precision=precision,
    )  # fmt: skip
    settings = TuneSettings(
        trials=trials,
        strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        output=output,
        storage=storage,
        study_name=study_name,
        sampler_seed=sampler_seed,
    )
    result = run_tune(base, settings, err_console)
    title = f"study {result.study_name}: {len(result.rows)} trials"
    table = Table(title=title, title_justify="left")
    headers = {"trial": "#", "state": "state", "score": "score", "strategy": "strategy",
               "epochs": "epochs", "lr": "lr", "head_lr": "head lr", "batch_size": "batch",
               "freeze_layers": "frozen", "lora_rank": "rank", "seconds": "s"}  # fmt: skip
    # only the settings some trial has: no empty lora column when lora is not searched
    columns = [c for c in headers if any(row[c] is not None for row in result.rows)]
    for column in columns:
        table.add_column(headers[column], justify="left" if column == "state" else "right")
    ranked = sorted(result.rows, key=lambda r: -(r["score"] if r["score"] is not None else -1e9))
    for row in ranked:
        cells = [_cell(row[c]) for c in columns]
        table.add_row(*cells, style="bold green" if row["trial"] == result.best_trial else None)
    out_console.print(table)
    out_console.print(
        f"best: trial {result.best_trial}, eval {result.metric} {result.best_score:.4f} "
        f"({result.seconds / 60:.1f} min); recipe {result.output / 'best.yaml'}: "
        f"headstart fit --config {result.output / 'best.yaml'}",
        markup=False,
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1e}" if value < 0.01 else f"{value:.4g}"
    return str(value)
