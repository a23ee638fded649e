"""``compare --track mlflow|tensorboard``: a finished comparison, logged.

MLflow: one parent run per comparison (its settings, each strategy's mean, spread, time and
memory, and ``comparison.json`` with the reports and figures as artifacts) and one nested run
per job (strategy, seed, training size; its epoch history by step; its eval and test numbers),
so the MLflow UI can sort and chart the jobs side by side. TensorBoard: one event folder per
job under ``OUTPUT/tensorboard`` (or ``--track-dir DIR/<output name>``) and a ``summary``
folder with the means and the markdown report.

The jobs are logged when the comparison is complete, from their stored results: a resumed
comparison logs every job once, in the run of the invocation that finished it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from headstart.runs.tracking import (
    epoch_metrics,
    final_metrics,
    mlflow_experiment,
    mlflow_uri,
    tracker_names,
)

REPORT_FILES = ("comparison.json", "report.md", "report.html")


def job_name(result: dict[str, Any]) -> str:
    size = result.get("train_size")
    return f"{result['candidate']}-n{size or 'all'}-seed{result['seed']}"


def job_finals(result: dict[str, Any]) -> dict[str, float]:
    """A job's final numbers as fit's tracker logs them (``final_eval_*``, ``test_*``,
    ``train_seconds``) and its cost."""
    costs = {"peak_rss_mb": float(result["peak_rss_mb"])}
    costs["wall_seconds"] = float(result["wall_seconds"])
    return final_metrics(result["metrics"]) | costs


def strategy_metrics(comparison: dict[str, Any]) -> dict[str, float]:
    """Each strategy's mean and spread of the comparison's metric, training time and memory."""
    out: dict[str, float] = {}
    for name, entry in comparison["strategies"].items():
        for key, metric in (("mean", "mean"), ("std", "std"), ("train_seconds", "train_seconds"),
                            ("peak_memory_mb", "peak_memory_mb")):  # fmt: skip
            if isinstance(entry.get(key), int | float):
                out[f"{name}_{metric}"] = float(entry[key])
    return out


def comparison_params(comparison: dict[str, Any]) -> dict[str, str]:
    keys = ("data", "eval_data", "test_data", "model", "candidates", "seeds", "train_sizes",
            "curve_strategy", "metric", "split")  # fmt: skip
    params = {k: comparison.get(k) for k in keys} | dict(comparison.get("options") or {})
    return {
        k: json.dumps(v) if isinstance(v, list) else str(v)
        for k, v in params.items()
        if v is not None
    }


def track_comparison(
    track: str | None,
    experiment: str,
    track_dir: str | None,
    output: Path,
    comparison: dict[str, Any],
    results: list[dict[str, Any]],
) -> None:
    for name in tracker_names(track):
        if name == "mlflow":
            _to_mlflow(experiment, output, comparison, results)
        else:
            _to_tensorboard(track_dir, output, comparison, results)


def _to_mlflow(
    experiment: str, output: Path, comparison: dict[str, Any], results: list[dict[str, Any]]
) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri())
    experiment_id = mlflow_experiment(client, experiment)
    stamp = int(time.time() * 1000)
    parent = client.create_run(
        experiment_id, run_name=output.name, tags={"headstart.command": "compare"}
    ).info.run_id
    params = [Param(k, v) for k, v in comparison_params(comparison).items()]
    summary = [Metric(k, v, stamp, 0) for k, v in strategy_metrics(comparison).items()]
    client.log_batch(parent, params=params, metrics=summary)
    for result in results:
        child = client.create_run(
            experiment_id,
            run_name=f"{output.name}/{job_name(result)}",
            tags={"mlflow.parentRunId": parent, "headstart.command": "compare"},
        ).info.run_id
        job_params = {"candidate": result["candidate"], "seed": result["seed"],
                      "train_size": result.get("train_size") or "all"}  # fmt: skip
        for key in ("strategy", "epochs", "lr", "head_lr", "frozen_layers"):
            if result["metrics"].get(key) is not None:
                job_params[key] = result["metrics"][key]
        history = [
            Metric(k, v, stamp, int(record.get("epoch", i + 1)))
            for i, record in enumerate(result["metrics"].get("history") or [])
            for k, v in epoch_metrics(record).items()
        ]
        finals = [Metric(k, v, stamp, 0) for k, v in job_finals(result).items()]
        client.log_batch(
            child,
            params=[Param(k, str(v)) for k, v in job_params.items()],
            metrics=history + finals,
            tags=[RunTag("headstart.candidate", result["candidate"])],
        )
        client.set_terminated(child, "FINISHED")
    for name in REPORT_FILES:
        if (output / name).exists():
            client.log_artifact(parent, str(output / name))
    if (output / "figures").is_dir():
        client.log_artifacts(parent, str(output / "figures"), "figures")
    client.set_tag(parent, "headstart.output", str(output.resolve()))
    client.set_terminated(parent, "FINISHED")


def _to_tensorboard(
    track_dir: str | None, output: Path, comparison: dict[str, Any], results: list[dict[str, Any]]
) -> None:
    from torch.utils.tensorboard import SummaryWriter

    base = Path(track_dir) / output.name if track_dir else output / "tensorboard"
    for result in results:
        with SummaryWriter(log_dir=str(base / job_name(result))) as writer:
            for i, record in enumerate(result["metrics"].get("history") or []):
                step = int(record.get("epoch", i + 1))
                for name, value in epoch_metrics(record).items():
                    writer.add_scalar(name.replace("_", "/", 1), value, step)
            for name, value in job_finals(result).items():
                writer.add_scalar(f"final/{name}", value, 0)
    with SummaryWriter(log_dir=str(base / "summary")) as writer:
        for name, value in strategy_metrics(comparison).items():
            writer.add_scalar(f"compare/{name}", value, 0)
        if (output / "report.md").exists():
            writer.add_text("report", (output / "report.md").read_text(encoding="utf-8"), 0)
