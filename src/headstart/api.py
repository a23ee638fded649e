"""The Python API: ``fit`` trains and writes a run folder; ``load`` gives a predictor.

Everything the CLI does is a call here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from headstart.config import FitConfig
from headstart.core.distributed import for_this_process, is_main, same_on_all
from headstart.core.reporting import Reporter
from headstart.engine.checkpoints import open_run_folder, resumable_config
from headstart.pipeline.fit import train_model, write_run
from headstart.runs.folder import check_target, default_run_dir
from headstart.runs.tracking import Tracking
from headstart.tasks.metrics import headline


@dataclass
class FitResult:
    run_dir: Path
    metrics: dict[str, Any]


def fit(
    config: FitConfig | None = None,
    console: Console | Reporter | None = None,
    *,
    resume: str | Path | None = None,
    **options: Any,
) -> FitResult:
    """Fine-tune ``config.model`` on ``config.data`` and write a run folder.

    Either pass a :class:`FitConfig` or its fields as keyword arguments:
    ``headstart.fit(data="bbc-news", strategy="head")``. ``resume=RUN_DIR`` continues a run
    started with ``save_every`` from its latest checkpoint, with its saved settings. What it
    says goes to ``console`` (a rich console or a reporter; by default stderr).
    """
    if resume is not None:
        config = resumable_config(Path(resume), options)
    config = for_this_process(config or FitConfig(**options))  # under accelerate launch
    reporter = Reporter.of(console, quiet=config.quiet)
    run_dir = Path(resume) if resume is not None else same_on_all(
        Path(config.output) if config.output else default_run_dir(config.data, config.strategy)
    )  # fmt: skip
    if resume is None and is_main():
        check_target(run_dir, config.overwrite)  # fail before any work
    checkpoints = open_run_folder(run_dir, config, resuming=resume is not None)
    tracking = Tracking.for_run(config, run_dir)  # --track without its extra fails here too
    with tracking:
        trained = train_model(
            config, reporter, on_epoch=tracking.log_epoch, checkpoints=checkpoints,
            resume=resume is not None,
        )  # fmt: skip
        metrics = trained.metrics
        write_run(
            run_dir, config, trained.model, trained.tokenizer, trained.meta, metrics,
            tracking.stage_files, checkpoints=checkpoints,
        )  # fmt: skip
        tracking.finish(run_dir, metrics)
    final = "test" if "test" in metrics else "eval"
    reporter.success(
        f"in {metrics['train_seconds']:.1f} s: {final} "
        f"{headline(metrics[final], metrics['task'])} → {run_dir}"
    )
    return FitResult(run_dir, metrics)


def load(run_dir: str | Path, **options: Any):
    """A :class:`~headstart.inference.predictor.Predictor` for a run folder (or its ``model/``)."""
    from headstart.inference.predictor import Predictor

    return Predictor.from_run(run_dir, **options)
