"""Experiment tracking for ``fit --track mlflow|tensorboard``: the run's settings, each epoch's
history record and, at the end, its final metrics and files. ``adapt`` and ``pretrain`` use the
same trackers: a record is then a training-curve point (``step``), the finals the perplexities.
``compare --track`` logs a finished comparison (``comparison/tracking.py``).

Both backends are optional extras (``pip install 'headstart[track]'``); they are imported only
when a tracker is made, so ``import headstart`` never needs them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from headstart.config.names import tracker_names
from headstart.errors import ConfigError
from headstart.runs.folder import CONFIG, METRICS, README, REPORT, TENSORBOARD

DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"  # works with nothing else running
# a run folder's files, and an adapt/pretrain output's settings
ARTIFACTS = (REPORT, METRICS, README, CONFIG, "pretraining.json")
# adapt/pretrain: metrics.json's final numbers
MLM_FINALS = (
    "perplexity_before", "perplexity_after", "perplexity_untrained_head", "loss_before",
    "loss_after", "final_train_loss", "steps_per_second",
)  # fmt: skip


class TrackedConfig(Protocol):
    """What a tracker reads of a run's settings: FitConfig, AdaptConfig or PretrainConfig."""

    track: str | None
    experiment: str
    track_dir: str | None

    def to_dict(self) -> dict[str, Any]: ...


class Tracker(Protocol):
    def start(self, config: TrackedConfig) -> None: ...

    def log_epoch(self, record: dict[str, Any]) -> None: ...

    def stage_files(self, stage: Path, metrics: dict[str, Any]) -> None:
        """Add files to the run folder while it is still being staged."""

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        """The run folder is complete: log final metrics and its files."""

    def fail(self) -> None:
        """Training or writing failed: leave nothing that looks like a finished run."""


def make_trackers(config: TrackedConfig, run_dir: Path) -> list[Tracker]:
    """The trackers ``config.track`` names; a missing extra fails here, before any work."""
    trackers: list[Tracker] = []
    for name in tracker_names(config.track):
        if name == "mlflow":
            trackers.append(MlflowTracker(config.experiment, run_dir.name))
        else:
            trackers.append(TensorBoardTracker(run_dir, config.track_dir))
    return trackers


def require_trackers(track: str | None) -> list[str]:
    """The tracker names, each importable: a missing extra fails before any work (for commands
    that make their trackers only at the end, such as compare)."""
    import importlib

    names = tracker_names(track)
    for name in names:
        try:
            importlib.import_module("mlflow" if name == "mlflow" else "torch.utils.tensorboard")
        except ImportError:
            raise _needs_extra(name) from None
    return names


def mlflow_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else a SQLite database in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_MLFLOW_URI


def _needs_extra(what: str) -> ConfigError:
    return ConfigError(f"--track {what} needs the tracking extra: pip install 'headstart[track]'")


def epoch_metrics(record: dict[str, Any]) -> dict[str, float]:
    """A history record as metric names: eval metrics prefixed ``eval_``; epoch (or an
    adapt curve point's step) itself is the step, not a metric."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in ("epoch", "step") or not isinstance(value, int | float):
            continue
        if key == "seconds":
            name = "epoch_seconds"
        elif key.startswith(("train_", "eval_")) or key == "frozen_layers":
            name = key
        else:
            name = f"eval_{key}"
        out[name] = float(value)
    return out


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The best epoch's eval numbers and the test numbers, flat: ``final_eval_accuracy``,
    ``test_macro_f1``, … plus the training time. An adapt/pretrain run: its perplexities."""
    if "perplexity_after" in metrics:
        finals = {k: float(metrics[k]) for k in MLM_FINALS if k in metrics}
        return {"train_seconds": float(metrics["seconds"]), **finals}
    out = {"train_seconds": float(metrics["train_seconds"])}
    for split, prefix in (("eval", "final_eval_"), ("test", "test_")):
        for key, value in metrics.get(split, {}).items():
            if isinstance(value, float):
                out[prefix + key] = value
    return out


def mlflow_experiment(client: Any, name: str) -> str:
    """The id of the MLflow experiment ``name``, created if it does not exist yet."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # another process created it in between
        return str(client.get_experiment_by_name(name).experiment_id)


class MlflowTracker:
    """One MLflow run per fit, through ``MlflowClient`` (no global active run, so a tracker
    never picks up or ends someone else's run). ``MLFLOW_TRACKING_URI`` is honoured; the
    default is a SQLite database in the working directory."""

    def __init__(self, experiment: str, run_name: str) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _needs_extra("mlflow") from None
        self.uri = mlflow_uri()
        self.client = MlflowClient(tracking_uri=self.uri)
        self.experiment = experiment
        self.run_name = run_name
        self.run_id = ""
        self.params: set[str] = set()

    def start(self, config: TrackedConfig) -> None:
        experiment_id = mlflow_experiment(self.client, self.experiment)
        run = self.client.create_run(experiment_id, run_name=self.run_name)
        self.run_id = run.info.run_id
        skip = ("quiet", "overwrite", "track", "experiment", "track_dir")
        self._log_params({k: v for k, v in config.to_dict().items() if k not in skip})

    def _log_params(self, values: dict[str, Any]) -> None:
        # None is "the strategy default": logged once resolved, in finish (params are write-once)
        from mlflow.entities import Param

        new = {k: v for k, v in values.items() if v is not None and k not in self.params}
        if new:
            self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in new.items()])
            self.params |= set(new)

    def log_epoch(self, record: dict[str, Any]) -> None:
        import time

        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        step = int(record["epoch"] if "epoch" in record else record["step"])
        metrics = [Metric(k, v, stamp, step) for k, v in epoch_metrics(record).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def stage_files(self, stage: Path, metrics: dict[str, Any]) -> None:
        pass

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        import time

        from mlflow.entities import Metric

        self._log_params({
            "epochs": metrics.get("epochs"), "lr": metrics.get("lr"),
            "head_lr": metrics.get("head_lr"), "freeze_layers": metrics.get("frozen_layers"),
        })  # fmt: skip
        stamp = int(time.time() * 1000)
        final = [Metric(k, v, stamp, 0) for k, v in final_metrics(metrics).items()]
        self.client.log_batch(self.run_id, metrics=final)
        self.client.set_tag(self.run_id, "headstart.run_dir", str(run_dir.resolve()))
        for name in ARTIFACTS:
            if (run_dir / name).exists():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self) -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, "FAILED")


class TensorBoardTracker:
    """Event files for ``tensorboard --logdir``. By default they go to ``RUN_DIR/tensorboard``:
    written beside the staged run while training, moved into it before it is renamed into
    place. With ``--track-dir DIR`` they go to ``DIR/<run name>/``, so one ``--logdir DIR``
    shows every run side by side."""

    def __init__(self, run_dir: Path, track_dir: str | None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _needs_extra("tensorboard") from None
        self.SummaryWriter = SummaryWriter
        self.staged = track_dir is None
        self.folder = (
            run_dir.parent / f".{run_dir.name}.{TENSORBOARD}-{os.getpid()}"
            if self.staged
            else Path(track_dir or "") / run_dir.name
        )
        self.writer: Any = None

    def start(self, config: TrackedConfig) -> None:
        if self.staged and self.folder.exists():
            shutil.rmtree(self.folder)
        self.writer = self.SummaryWriter(log_dir=str(self.folder))
        text = json.dumps(config.to_dict(), indent=2)
        self.writer.add_text("config", f"```\n{text}\n```", 0)

    def log_epoch(self, record: dict[str, Any]) -> None:
        step = int(record["epoch"] if "epoch" in record else record["step"])
        for name, value in epoch_metrics(record).items():
            self.writer.add_scalar(name.replace("_", "/", 1), value, step)
        self.writer.flush()

    def stage_files(self, stage: Path, metrics: dict[str, Any]) -> None:
        for name, value in final_metrics(metrics).items():
            self.writer.add_scalar(f"final/{name}", value, 0)
        self.writer.close()
        if self.staged:
            os.replace(self.folder, stage / TENSORBOARD)

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        pass

    def fail(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.staged:
            shutil.rmtree(self.folder, ignore_errors=True)


class Tracking:
    """Every tracker of one run, used as ``with Tracking.for_run(config, run_dir) as t:``: each
    call fans out to all of them, and an exception marks them failed. Without ``--track`` it
    does nothing."""

    def __init__(self, trackers: list[Tracker], config: TrackedConfig) -> None:
        self.trackers = trackers
        self.config = config

    @classmethod
    def for_run(cls, config: TrackedConfig, run_dir: Path) -> Tracking:
        from headstart.core.distributed import is_main

        # under accelerate launch only the main process logs, as only it writes the run folder
        return cls(make_trackers(config, run_dir) if is_main() else [], config)

    def __enter__(self) -> Tracking:
        for tracker in self.trackers:
            tracker.start(self.config)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            for tracker in self.trackers:
                tracker.fail()

    def log_epoch(self, record: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log_epoch(record)

    def stage_files(self, stage: Path, metrics: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.stage_files(stage, metrics)

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.finish(run_dir, metrics)
