"""``fit --track``: runs logged to a real MLflow SQLite store and real TensorBoard event files,
each read back with the library's own reader; a missing extra is one clear error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import headstart
from headstart.errors import ConfigError
from tests.helpers import SHARED_DATA, head_rows, scalars
from tests.tiny_models import save_tiny

PHRASEBANK = SHARED_DATA / "financial_phrasebank"
pytestmark = pytest.mark.skipif(not PHRASEBANK.exists(), reason="../shared/data is not here")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("track")
    return {
        "data": head_rows(PHRASEBANK / "allagree_train.csv", root / "train.csv", 150),
        "eval_data": head_rows(PHRASEBANK / "allagree_dev.csv", root / "dev.csv", 60),
        "model": str(save_tiny("bert", root / "tiny-bert")),
        "cache_dir": str(root / "cache"),
    }


def fit(setup: dict[str, str], tmp_path: Path, **options: object) -> headstart.api.FitResult:
    return headstart.fit(
        **setup, strategy="head", epochs=3, batch_size=16, max_length=48, quiet=True,
        output=str(tmp_path / "runs" / "run"), **options,
    )  # fmt: skip


def test_mlflow_logs_params_epochs_and_artifacts(setup, tmp_path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the local artifact store is relative to the working directory
    result = fit(setup, tmp_path, track="mlflow", experiment="fpb")

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("fpb")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    params = run.data.params
    assert params["strategy"] == "head" and params["epochs"] == "3" and params["seed"] == "42"
    assert params["head_lr"] == "0.005"  # the strategy default, logged once resolved
    assert "quiet" not in params and "cache_dir" in params
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == [r["train_loss"] for r in result.metrics["history"]]
    accuracy = client.get_metric_history(run.info.run_id, "eval_accuracy")
    assert [m.value for m in accuracy] == [r["accuracy"] for r in result.metrics["history"]]
    assert run.data.metrics["final_eval_accuracy"] == result.metrics["eval"]["accuracy"]
    assert run.data.tags["headstart.run_dir"] == str(result.run_dir.resolve())
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert names == {"report.md", "metrics.json", "README.md", "config.json"}


def test_tensorboard_events_land_in_the_run_folder(setup, tmp_path) -> None:
    result = fit(setup, tmp_path, track="tensorboard")
    logged = scalars(result.run_dir / "tensorboard")
    history = result.metrics["history"]
    assert [s for s, _ in logged["train/loss"]] == [1, 2, 3]
    assert [v for _, v in logged["eval/accuracy"]] == pytest.approx(
        [r["accuracy"] for r in history]
    )
    assert logged["final/final_eval_accuracy"][0][1] == pytest.approx(
        result.metrics["eval"]["accuracy"]
    )
    # nothing left beside the run folder: the events moved in with the staged run
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["run"]


def test_tensorboard_track_dir_and_failure_cleanup(setup, tmp_path) -> None:
    logs = tmp_path / "logs"
    result = fit(setup, tmp_path, track="tensorboard", track_dir=str(logs))
    assert "train/loss" in scalars(logs / "run")
    assert not (result.run_dir / "tensorboard").exists()

    bad_eval = tmp_path / "bad.csv"
    bad_eval.write_text("text,label\nprofits rose,bullish\nsales fell,negative\n")
    with pytest.raises(headstart.errors.DataError):
        fit({**setup, "eval_data": str(bad_eval)}, tmp_path / "second", track="tensorboard")
    assert not (tmp_path / "second" / "runs").exists() or not any(
        (tmp_path / "second" / "runs").iterdir()
    )


def test_unknown_tracker_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown --track 'wandb'; choose mlflow or tensorboard"):
        headstart.FitConfig(data="x.csv", track="mlflow,wandb")


def test_missing_extra_is_one_line_and_no_output(setup, tmp_path) -> None:
    # the real CLI in a fresh interpreter where importing mlflow fails, as without the extra
    code = (
        "import sys; sys.modules['mlflow'] = None; sys.modules['mlflow.tracking'] = None\n"
        "from headstart.cli.main import app; app()"
    )
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "HEADSTART_DEBUG"}
    result = subprocess.run(
        [sys.executable, "-c", code, "fit", "--data", setup["data"], "--eval-data",
         setup["eval_data"], "--model", setup["model"], "--track", "mlflow", "-o", str(out)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: --track mlflow needs the tracking extra: pip install 'headstart[track]'"
    ], result.stderr
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()
