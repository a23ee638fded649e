"""The run folders under a directory, summarised for ``headstart runs``: what was trained on
what, how well (the test split if there is one, else eval) and how long it took."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError
from headstart.tasks.metrics import main_metric  # each task's, as its class defines it

SORT_KEYS = ("time", "metric", "seconds", "strategy")
FILTER_KEYS = ("name", "data", "model", "strategy", "task", "status")
SUBSTRING_KEYS = ("name", "data", "model")  # paths: a part of one is enough


@dataclass
class RunSummary:
    name: str
    path: str
    status: str  # "complete" or "incomplete"
    finished: str | None = None  # local time, from metrics.json
    data: str | None = None
    model: str | None = None
    strategy: str | None = None
    task: str | None = None
    split: str | None = None  # test, or eval when there is no test split
    metric: str | None = None
    value: float | None = None
    train_seconds: float | None = None
    finished_at: float | None = None  # seconds since the epoch, for sorting
    problem: str | None = None  # why a run is incomplete

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_run_folder(folder: Path) -> bool:
    """A fit's run folder, finished or not; hidden staging folders (``.X.partial-*``) and
    anything else (a tune or compare output) are not."""
    if not folder.is_dir() or folder.name.startswith("."):
        return False
    return any((folder / name).exists() for name in ("metrics.json", "config.json", "model"))


def summarise(folder: Path) -> RunSummary:
    summary = RunSummary(name=folder.name, path=str(folder), status="incomplete")
    metrics_file = folder / "metrics.json"
    try:
        metrics = json.loads(metrics_file.read_text())
        split = "test" if "test" in metrics else "eval"
        task = metrics["task"]
        metric = main_metric(task, metrics[split])
        summary.data, summary.model = metrics["data"], metrics["model"]
        summary.strategy, summary.task = metrics["strategy"], task
        summary.split, summary.metric = split, metric
        summary.value = float(metrics[split][metric])
        summary.train_seconds = float(metrics["train_seconds"])
    except FileNotFoundError:
        summary.problem = "no metrics.json (interrupted?)"
        return summary
    except (OSError, ValueError, KeyError, TypeError) as exc:
        summary.problem = f"metrics.json unreadable ({type(exc).__name__}: {exc})"
        return summary
    summary.finished_at = metrics_file.stat().st_mtime
    summary.finished = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.finished_at))
    summary.status = "complete"
    return summary


def list_runs(directory: Path) -> list[RunSummary]:
    if not directory.is_dir():
        raise ConfigError(
            f"{directory}: no such folder; pass the folder that holds your run folders "
            "(default runs/)"
        )
    return [summarise(f) for f in sorted(directory.iterdir()) if is_run_folder(f)]


def parse_filters(filters: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for text in filters:
        key, sep, value = text.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise ConfigError(f"--filter '{text}': expected KEY=VALUE, e.g. strategy=head")
        if key not in FILTER_KEYS:
            raise ConfigError(
                f"--filter '{text}': unknown key '{key}'; choose one of: {', '.join(FILTER_KEYS)}"
            )
        parsed[key] = value.strip().lower()
    return parsed


def matches(run: RunSummary, filters: dict[str, str]) -> bool:
    for key, wanted in filters.items():
        value = str(getattr(run, key) or "").lower()
        if not (wanted in value if key in SUBSTRING_KEYS else wanted == value):
            return False
    return True


def sort_runs(runs: list[RunSummary], key: str) -> list[RunSummary]:
    """Newest, best, fastest or by strategy first; incomplete runs last."""
    if key not in SORT_KEYS:
        raise ConfigError(f"--sort '{key}': choose one of: {', '.join(SORT_KEYS)}")
    orders = {
        "time": lambda r: -(r.finished_at or 0.0),
        "metric": lambda r: -(r.value if r.value is not None else -1e9),
        "seconds": lambda r: r.train_seconds if r.train_seconds is not None else 1e18,
        "strategy": lambda r: (r.strategy or "", -(r.value or 0.0)),
    }
    return sorted(runs, key=lambda r: (r.status != "complete", orders[key](r)))
