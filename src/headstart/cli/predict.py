"""``headstart predict``: label texts from a file or stdin with a trained run folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.common import err_console, user_errors
from headstart.errors import DataError


def read_texts(
    source: str,
    text_column: str | None,
    encoding: str,
    pair_column: str | None = None,
    pairs_wanted: bool = False,
) -> tuple[list[str], list[str] | None]:
    """Texts (and second texts for a sentence-pair model) from a file or stdin. On stdin a pair
    is one line with the two texts separated by a tab."""
    from headstart.data.labelled import guess_pair_columns, resolve_text_column
    from headstart.data.readers import read_lines, read_table

    if source == "-":
        table = read_lines(sys.stdin.read(), "<stdin>")
        if pairs_wanted:
            for row, where in zip(table.rows, table.where, strict=True):
                first, tab, second = row["text"].partition("\t")
                if not tab:
                    raise DataError(
                        f"<stdin> {where}: this model reads sentence pairs; give the two texts "
                        f"on one line separated by a tab"
                    )
                row["text"], row["text_pair"] = first, second
            table.columns.append("text_pair")
            pair_column = "text_pair"
    else:
        table = read_table(source, encoding)
    guessed = guess_pair_columns(table.columns) if pairs_wanted and text_column is None else None
    if guessed is not None and pair_column in (None, guessed[1]):
        text_column, pair_column = guessed
    column = resolve_text_column(table, text_column)
    if pairs_wanted and pair_column is None:
        raise DataError(
            f"{table.path}: this model reads sentence pairs; pass --text-pair-column "
            f"(found columns: {', '.join(table.columns)})"
        )
    if pair_column is not None and pair_column not in table.columns:
        raise DataError(
            f"{table.path}: no column '{pair_column}'; found columns: {', '.join(table.columns)}"
        )
    texts: list[str] = []
    pairs: list[str] = []
    for row, where in zip(table.rows, table.where, strict=True):
        for name, into in ((column, texts), (pair_column, pairs)):
            if name is None:
                continue
            value = row.get(name)
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{table.path} {where}: empty or missing text in column '{name}'")
            into.append(value)
    return texts, (pairs if pair_column is not None else None)


@user_errors
def predict(
    run_dir: Annotated[str, typer.Argument(help="run folder written by 'headstart fit'")],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="file (CSV/TSV/JSONL/JSON/Parquet/TXT) or - for one text per line on stdin",
        ),
    ] = "-",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="JSONL file to write (default stdout)")
    ] = None,
    text_pair_column: Annotated[
        str | None, typer.Option(help="second-text column, for a sentence-pair model")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="text column (default: text or sentence)")
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the input file")] = "utf-8",
    batch_size: Annotated[int, typer.Option(help="texts per batch")] = 64,
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
    backend: Annotated[
        str,
        typer.Option(
            help="torch, or onnx: an export by 'headstart export' (RUN_DIR/onnx or its folder) "
            "on onnxruntime"
        ),
    ] = "torch",
) -> None:
    """Predict; writes JSONL rows in input order: {"text", "label", "score", "scores"};
    {"text", "labels", "scores"} for multi-label; {"text", "value"} for regression (plus
    "text_pair" for pairs). A token model gives {"text", "entities": [{"text", "type", "start",
    "end", "score"}]} for raw text, and {"tokens", "tags", "scores"} for pre-split input (CoNLL,
    or JSONL with "tokens")."""
    from headstart.api import load
    from headstart.data.tagged import looks_tagged, read_tagged
    from headstart.runs.folder import write_text

    if backend == "torch":
        predictor = load(run_dir, precision=precision, batch_size=batch_size)
    else:
        from headstart.inference.backends import load_predictor

        predictor = load_predictor(run_dir, backend, batch_size=batch_size)
    if predictor.tokens and input != "-" and looks_tagged(input):
        sentences, _, _ = read_tagged(input, None, encoding, need_tags=False)
        rows = predictor.tag(sentences)
    else:
        texts, pairs = read_texts(input, text_column, encoding, text_pair_column, predictor.pairs)
        rows = predictor.predict(texts, pairs)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if output is None:
        sys.stdout.write(lines)
        return
    target = Path(output)
    write_text(target, lines)  # atomic: a reader never sees half the predictions
    err_console.print(f"wrote {len(rows)} predictions to {target}", markup=False)
