"""The named steps of ``headstart tune``, each alone: no model is trained here (the search
itself is tested end to end in tests/test_tune.py)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

import headstart.pipeline.fit
from headstart.comparison import tuning
from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.errors import ConfigError

optuna = pytest.importorskip("optuna")


def _reporter() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(Console(file=out, width=300)), out


def test_output_folder_refuses_no_trials_and_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--trials must be positive, got 0"):
        tuning.output_folder(tuning.TuneSettings(trials=0, output=str(tmp_path)))
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="exists and is a file"):
        tuning.output_folder(tuning.TuneSettings(output=str(tmp_path / "f")))
    folder = tuning.output_folder(tuning.TuneSettings(output=str(tmp_path / "new")))
    assert folder == tmp_path / "new" and not folder.exists()  # nothing created yet


def test_trial_config_is_the_base_with_the_trial_values_and_no_run_folder() -> None:
    base = FitConfig(data="d.csv", test_data="t.csv", output="runs/x", track="mlflow", seed=7)
    config = tuning.trial_config(base, {"strategy": "head", "epochs": 12, "head_lr": 0.01})
    assert (config.strategy, config.epochs, config.head_lr, config.seed) == ("head", 12, 0.01, 7)
    assert config.test_data is None and config.output is None and config.track is None
    assert config.quiet is True


def test_step_offset_separates_strategies() -> None:
    strategies = ("partial", "head", "lora")
    offsets = {s: tuning.step_offset(strategies, s) for s in strategies}
    assert offsets == {"head": 0, "lora": 1000, "partial": 2000}


def test_cache_note_reads_the_cache_line_of_the_log() -> None:
    log = "model: tiny\nfeatures cached: 3 hits, 0 misses\nepoch 1\n"
    assert tuning.cache_note(log) == " (3 hits, 0 misses)"
    assert tuning.cache_note("model: tiny\n") == ""


class FakeTrial:
    def __init__(self, prune: bool = False, number: int = 3) -> None:
        self.number = number
        self.prune = prune
        self.reports: list[tuple[float, int]] = []
        self.user_attrs: dict[str, Any] = {}

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return self.prune

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    # suggest(): one strategy, the first of each range
    def suggest_int(self, name: str, low: int, high: int) -> int:
        return low

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return low

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return choices[0]


def test_pruning_callback_reports_and_never_prunes_the_first_epoch() -> None:
    trial = FakeTrial(prune=True)
    report = tuning.pruning_callback(trial, "classification", 1000, optuna)
    report({"epoch": 1, "accuracy": 0.5})
    assert trial.reports == [(0.5, 1001)]
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 2"):
        report({"epoch": 2, "accuracy": 0.6})
    keep = FakeTrial(prune=False)
    tuning.pruning_callback(keep, "classification", 0, optuna)({"epoch": 2, "accuracy": 0.7})
    assert keep.reports == [(0.7, 2)]


def test_objective_trains_scores_and_says_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def train_model(config: FitConfig, console: Console, on_epoch: Any) -> Any:
        seen["config"] = config
        console.print("features cached: 1 hit, 0 misses")
        on_epoch({"epoch": 1, "accuracy": 0.5})
        return SimpleNamespace(metrics={"eval": {"accuracy": 0.75}, "epochs_run": 10})

    monkeypatch.setattr(headstart.pipeline.fit, "train_model", train_model)
    reporter, out = _reporter()
    objective = tuning.Objective(
        FitConfig(data="d.csv"), ("head",), 6, "classification", reporter, optuna
    )
    trial = FakeTrial()
    assert objective(trial) == 0.75
    assert seen["config"].strategy == "head" and seen["config"].quiet
    assert trial.user_attrs["config"]["strategy"] == "head"
    assert trial.user_attrs["epochs_run"] == 10 and "seconds" in trial.user_attrs
    assert trial.reports == [(0.5, 1)]
    line = out.getvalue().strip()
    assert line.startswith(
        "trial 3: head epochs 10 head_lr 1.00e-03 batch_size 16: accuracy 0.7500 in "
    )
    assert line.endswith(" s (1 hit, 0 misses)")


def test_a_pruned_trial_says_so_and_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def train_model(config: FitConfig, console: Console, on_epoch: Any) -> Any:
        raise optuna.TrialPruned("pruned at epoch 2")

    monkeypatch.setattr(headstart.pipeline.fit, "train_model", train_model)
    reporter, out = _reporter()
    objective = tuning.Objective(
        FitConfig(data="d.csv"), ("head",), 6, "classification", reporter, optuna
    )
    trial = FakeTrial(number=5)
    with pytest.raises(optuna.TrialPruned):
        objective(trial)
    assert out.getvalue() == "trial 5: head epochs 10 head_lr 1.00e-03 batch_size 16: pruned\n"
    assert "seconds" in trial.user_attrs and "epochs_run" not in trial.user_attrs


def test_open_study_joins_the_same_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    first = tuning.open_study(optuna, storage, "s", 0)
    first.enqueue_trial({"x": 1})
    again = tuning.open_study(optuna, storage, "s", 0)
    assert again.study_name == "s" and len(again.trials) == 1


def test_open_study_refuses_a_storage_it_has_no_driver_for() -> None:
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("psycopg2 is installed: the URL would be tried")
    with pytest.raises(ConfigError, match="--storage postgresql://x: cannot open the study"):
        tuning.open_study(optuna, "postgresql://x", "s", None)


def test_tune_accepts_a_reporter_or_a_console() -> None:
    reporter, _ = _reporter()
    assert Reporter.of(reporter) is reporter  # what tune() does with what it is given
    assert isinstance(Reporter.of(Console(file=io.StringIO())), Reporter)
