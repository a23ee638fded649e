"""``headstart predict``: label texts from a file or stdin with a trained run folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.common import err_console, user_errors
from headstart.errors import DataError


def read_texts(source: str, text_column: str | None, encoding: str) -> list[str]:
    from headstart.data.labelled import resolve_text_column
    from headstart.data.readers import read_lines, read_table

    if source == "-":
        table = read_lines(sys.stdin.read(), "<stdin>")
    else:
        table = read_table(source, encoding)
    column = resolve_text_column(table, text_column)
    texts = []
    for row, where in zip(table.rows, table.where, strict=True):
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{table.path} {where}: empty or missing text in column '{column}'")
        texts.append(value)
    return texts


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
    text_column: Annotated[
        str | None, typer.Option(help="text column (default: text or sentence)")
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the input file")] = "utf-8",
    batch_size: Annotated[int, typer.Option(help="texts per batch")] = 64,
    precision: Annotated[str, typer.Option(help="auto, fp32, bf16 or fp16")] = "auto",
) -> None:
    """Predict labels; writes JSONL rows {"text", "label", "score", "scores"} in input order."""
    from headstart.api import load

    texts = read_texts(input, text_column, encoding)
    predictor = load(run_dir, precision=precision, batch_size=batch_size)
    rows = predictor.predict(texts)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if output is None:
        sys.stdout.write(lines)
        return
    target = Path(output)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(lines)
    os.replace(tmp, target)
    err_console.print(f"wrote {len(rows)} predictions to {target}", markup=False)
