"""Stage 10, write run: the run folder, staged and moved into place whole (a failed write
leaves no folder)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headstart.config import FitConfig
from headstart.core.distributed import is_main
from headstart.models.classifier import TextClassifier
from headstart.runs.folder import StagedRun, write_json
from headstart.runs.modelcard import write_model_card
from headstart.runs.report import run_report


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
