"""``headstart export``: a run folder as an ONNX graph, with a parity report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.common import err_console, out_console, user_errors
from headstart.errors import ConfigError
from headstart.runs.folder import CONFIG, MODEL


@user_errors
def export(
    run_dir: Annotated[str, typer.Argument(help="run folder written by 'headstart fit'")],
    format: Annotated[str, typer.Option("--format", help="export format: onnx")] = "onnx",
    quantize: Annotated[
        str | None, typer.Option(help="int8: dynamic int8 quantization (smaller, faster on CPU)")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="folder to write (default RUN_DIR/onnx or onnx-int8)"),
    ] = None,
    sample: Annotated[
        str | None,
        typer.Option(
            help="texts for the parity report (default: the run's eval data if it is still "
            "there, else built-in probe texts)"
        ),
    ] = None,
    sample_size: Annotated[int, typer.Option(help="texts of --sample to compare (0: all)")] = 500,
    text_column: Annotated[
        str | None, typer.Option(help="text column of --sample (default: text or sentence)")
    ] = None,
    text_pair_column: Annotated[
        str | None, typer.Option(help="second-text column of --sample, for a pair model")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --output folder")] = False,
) -> None:
    """Export a run folder to ONNX: one graph (encoder, pooling, head) taking the tokenizer's
    outputs and giving logits, the tokenizer beside it, and a parity report against PyTorch."""
    from headstart.inference.export import export_onnx, read_sample

    if format != "onnx":
        raise ConfigError(f"--format must be onnx, got '{format}'")
    if sample_size < 0:
        raise ConfigError(f"--sample-size must be 0 (all) or more, got {sample_size}")
    run = Path(run_dir)
    target = Path(output) if output else run / ("onnx-int8" if quantize else "onnx")
    chosen = sample or _run_eval_data(run)
    if chosen is not None:
        pairs_wanted = _pairs_model(run)
        pair_column = text_pair_column or (
            _run_setting(run, "text_pair_column") if not sample else None
        )
        column = text_column or (_run_setting(run, "text_column") if not sample else None)
        picked = read_sample(chosen, column, pair_column, pairs_wanted, sample_size)
    else:
        picked = None
    parity = export_onnx(run, target, quantize=quantize, sample=picked, overwrite=overwrite)
    out_console.print(parity.line(), markup=False)
    err_console.print(f"wrote {target / 'model.onnx'} (+ tokenizer, parity.json)", markup=False)


def _run_setting(run: Path, name: str) -> str | None:
    try:
        value = json.loads((run / CONFIG).read_text()).get(name)
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, str) else None


def _run_eval_data(run: Path) -> str | None:
    """The run's eval file, if it is still where ``fit`` read it (bbc-news and a held-out
    fraction give none)."""
    path = _run_setting(run, "eval_data")
    return path if path and Path(path).is_file() else None


def _pairs_model(run: Path) -> bool:
    folder = run / MODEL if (run / MODEL).is_dir() else run
    try:
        return bool(json.loads((folder / "headstart.json").read_text()).get("pairs", False))
    except (OSError, json.JSONDecodeError):
        return False
