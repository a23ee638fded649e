"""``headstart evaluate``: metrics of a trained run folder on labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.common import err_console, out_console, user_errors


@user_errors
def evaluate(
    run_dir: Annotated[str, typer.Argument(help="run folder written by 'headstart fit'")],
    data: Annotated[
        str, typer.Option("--data", help="labelled file, or bbc-news for its test split")
    ],
    text_column: Annotated[
        str | None, typer.Option(help="text column (default: text or sentence)")
    ] = None,
    label_separator: Annotated[
        str | None, typer.Option(help="multi-label: split string labels on this")
    ] = None,
    text_pair_column: Annotated[
        str | None, typer.Option(help="second-text column, for a sentence-pair model")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="label column (default: label, labels, score, …)")
    ] = None,
    tag_column: Annotated[
        str | None,
        typer.Option(help="token model: CoNLL tag column number, or the JSON tags field"),
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the data file")] = "utf-8",
    strict: Annotated[bool, typer.Option(help="refuse rows with empty text or label")] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="metrics JSON (default RUN_DIR/evaluation-<data>.json)"
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="texts per batch")] = 64,
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
) -> None:
    """Evaluate a run folder on labelled data; prints the metrics and writes them as JSON."""
    from headstart.api import load
    from headstart.data.builtin import bbc_news_splits, is_builtin
    from headstart.data.labelled import load_split, load_tagged_split
    from headstart.data.tagged import looks_tagged
    from headstart.errors import DataError
    from headstart.tasks.metrics import confusion_markdown, headline

    if not is_builtin(data) and looks_tagged(data):  # data first: its errors come first
        tagged, _ = load_tagged_split(data, "eval", tag_column, encoding)
        predictor = load(run_dir, precision=precision, batch_size=batch_size)
        if not predictor.tokens:
            raise DataError(
                f"{data}: token-tagged data, but this model is a {predictor.task.name} model; "
                f"pass labelled texts"
            )
        metrics = predictor.evaluate_tags(tagged.texts, tagged.labels)
        metrics |= {"data": data}
        out_console.print(f"{headline(metrics, 'tokens')}  ({metrics['sentences']} sentences)")
        _write(metrics, output, run_dir, data)
        return
    pairs = None
    if is_builtin(data):
        texts, labels = bbc_news_splits()["test"]
        skipped = 0
    else:
        split = load_split(
            data, "eval", text_column, label_column, encoding, strict, text_pair_column,
            label_separator,
        )  # fmt: skip
        texts, labels, skipped, pairs = split.texts, split.labels, split.skipped, split.pairs
        if skipped:
            err_console.print(
                f"[yellow]warning:[/] skipped {skipped} rows with empty text or label"
            )
    predictor = load(run_dir, precision=precision, batch_size=batch_size)
    if predictor.tokens:
        raise DataError(
            f"{data}: this is a token-classification model; pass a CoNLL file or JSONL rows "
            f'with "tokens" and "tags"'
        )
    if predictor.pairs and pairs is None:
        raise DataError(f"{data}: this model reads sentence pairs; pass --text-pair-column")
    metrics = predictor.evaluate(texts, labels, pairs) | {"data": data, "skipped_rows": skipped}
    out_console.print(f"{headline(metrics, predictor.task.name)}  ({metrics['examples']} examples)")
    if "confusion_matrix" in metrics:
        out_console.print(confusion_markdown(metrics["confusion_matrix"], predictor.labels))
    _write(metrics, output, run_dir, data)


def _write(metrics: dict[str, Any], output: str | None, run_dir: str, data: str) -> None:
    from headstart.runs.folder import write_text

    target = Path(output) if output else Path(run_dir) / f"evaluation-{Path(data).stem}.json"
    write_text(target, json.dumps(metrics, indent=2) + "\n")  # atomic; ASCII, as before
    err_console.print(f"metrics written to {target}", markup=False)
