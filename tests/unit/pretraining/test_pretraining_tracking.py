"""``adapt --track``: settings, the training curve, the perplexities and metrics.json logged to
a real MLflow SQLite store and real TensorBoard event files, read back with their own readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from headstart.cli.main import app
from tests.helpers import SHARED_DATA, scalars
from tests.tiny_models import save_tiny

DATA = SHARED_DATA
CORPUS = DATA / "finance_corpus" / "reuters21578_notused_bodies.part1.txt"
pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/data is not here")


def test_adapt_logs_to_mlflow_and_tensorboard(tmp_path: Path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    corpus = tmp_path / "news.txt"
    corpus.write_text("\n".join(CORPUS.read_text(encoding="utf-8").splitlines()[:30]) + "\n")
    model = save_tiny("bert", tmp_path / "tiny")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the local artifact store is relative to the working directory
    out = tmp_path / "models" / "adapted"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(app, [
            "adapt", "--model", str(model), "--corpus", str(corpus), "-o", str(out),
            "--steps", "40", "--head-warmup-steps", "3", "--max-length", "32", "--batch-size",
            "4", "--lr", "1e-3", "--precision", "fp32", "--track", "mlflow,tensorboard",
            "--experiment", "domain", "--quiet",
        ])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    curve = metrics["curve"]
    assert [p["step"] for p in curve] == list(range(2, 41, 2))  # every 1/20, not the warmup's

    client = MlflowClient(tracking_uri=uri)
    [run] = client.search_runs([client.get_experiment_by_name("domain").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "adapted"
    params = run.data.params
    assert params["steps"] == "40" and params["batch_size"] == "4" and params["lr"] == "0.001"
    assert params["model"] == str(model) and "quiet" not in params and "track" not in params
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(p["step"], p["train_loss"]) for p in curve]
    for name in ("perplexity_before", "perplexity_after", "perplexity_untrained_head"):
        assert run.data.metrics[name] == metrics[name]
    assert run.data.metrics["perplexity_after"] < run.data.metrics["perplexity_before"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "pretraining.json"} <= names

    logged = scalars(out / "tensorboard")
    assert [s for s, _ in logged["train/loss"]] == [p["step"] for p in curve]
    assert logged["final/perplexity_after"][0][1] == pytest.approx(metrics["perplexity_after"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["adapted"]  # events moved inside


def test_unknown_tracker_fails_before_any_work() -> None:
    from headstart.errors import ConfigError
    from headstart.pretraining.run import AdaptConfig

    with pytest.raises(ConfigError, match="unknown --track 'wandb'; choose mlflow or tensorboard"):
        AdaptConfig(corpus=["news.txt"], output="out", track="wandb")
