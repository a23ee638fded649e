"""Stages 7-10 alone: train, post-fit, metrics, write run; and the orchestration's names."""

from __future__ import annotations

import json

import pytest
import torch
from rich.console import Console

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.pipeline import fit as fit_module
from headstart.pipeline.data import read_splits
from headstart.pipeline.encode import encode_data
from headstart.pipeline.inputs import prepare_inputs
from headstart.pipeline.metrics import fit_meta, fit_metrics, split_metrics
from headstart.pipeline.model import build_model
from headstart.pipeline.postfit import post_fit, predict_splits
from headstart.pipeline.source import resolve_model
from headstart.pipeline.task import build_task
from headstart.pipeline.train import Hooks, run_training, stage_steps
from headstart.pipeline.write import write_run
from headstart.tasks import ClassificationTask, MultiLabelTask, RegressionTask
from headstart.tasks.base import PostFit
from tests.tiny_models import save_tiny
from tests.unit.pipeline.stage_helpers import Captured, config, write_csv

# metrics.json's keys, in order, of a plain classification run with a test split
METRICS_KEYS = [
    "eval",
    "test",
    "model",
    "data",
    "strategy",
    "strategy_summary",
    "frozen_layers",
    "num_layers",
    "trainable_params",
    "total_params",
    "train_seconds",
    "cache_seconds",
    "epochs",
    "epochs_run",
    "best_epoch",
    "stopped_early",
    "patience",
    "layer_lr_decay",
    "calibration",
    "lr",
    "head_lr",
    "precision",
    "cache_precision",
    "device",
    "processes",
    "peak_rss_mb",
    "examples",
    "skipped_rows",
    "task",
    "labels",
    "history",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny("bert", tmp_path_factory.mktemp("tiny-bert")))


def _prepared(cfg: FitConfig):
    quiet = Captured()
    resolved = resolve_model(cfg)
    splits = read_splits(cfg)
    task = build_task(splits, cfg, quiet)
    built = build_model(cfg, resolved, task, quiet)
    encoding = encode_data(cfg, splits, task, resolved.tokenizer, built.plan.encoder_frozen, quiet)
    prepared = prepare_inputs(cfg, resolved, built, task, encoding, quiet)
    return resolved, splits, task, built, encoding, prepared


def test_run_training_reports_gradual_stages_and_class_weights(tiny, tmp_path) -> None:
    cfg = config(
        tiny,
        write_csv(tmp_path / "train.csv", 24),
        tmp_path,
        strategy="gradual",
        class_weights="auto",
        epochs=2,
        unfreeze_every="3steps",
    )
    resolved, _, task, built, encoding, prepared = _prepared(cfg)
    steps: list[tuple[int, int]] = []
    reporter = Captured()
    hooks = Hooks(on_step=lambda done, total: steps.append((done, total)))
    run = run_training(cfg, resolved, built, task, encoding, prepared, hooks, reporter)
    assert len(run.outcome.history) == 2 and steps[-1][0] == steps[-1][1]
    assert run.extra["unfreeze_every_steps"] == 3 and len(run.extra["class_weights"]) == 2
    assert "gradual: head only first, then one more layer every 3 steps" in reporter.lines()
    assert run.settings.precision == "fp32" and run.settings.stages == built.plan.stages
    assert stage_steps(cfg.__class__(**{**cfg.__dict__, "unfreeze_every": None}), 24) == 2


def test_post_fit_metrics_and_meta_of_a_classification_run(tiny, tmp_path) -> None:
    cfg = config(
        tiny,
        write_csv(tmp_path / "train.csv", 24),
        tmp_path,
        strategy="head",
        test_data=write_csv(tmp_path / "test.csv", 8),
    )
    resolved, splits, task, built, encoding, prepared = _prepared(cfg)
    run = run_training(cfg, resolved, built, task, encoding, prepared, Hooks(), Captured())
    logits = predict_splits(prepared.inputs, encoding.encoded, run.settings)
    assert set(logits) == {"eval", "test"} and logits["test"].shape == (8, 2)
    reporter = Captured()
    post = post_fit(cfg, task, logits, encoding.targets, reporter)
    [line] = reporter.lines()
    assert line.startswith("calibration: temperature ")
    assert post.meta == {"temperature": post.metrics["calibration"]["temperature"]}
    results = split_metrics(task, logits, encoding.targets)
    assert results["test"]["examples"] == 8
    metrics = fit_metrics(
        cfg,
        splits,
        task,
        resolved=resolved,
        built=built,
        encoding=encoding,
        prepared=prepared,
        run=run,
        results=results,
        post=post,
    )
    assert list(metrics) == METRICS_KEYS
    assert metrics["examples"] == {"train": len(splits.train), "eval": len(splits.eval), "test": 8}
    meta = fit_meta(cfg, splits, task, encoding, post)
    assert list(meta) == [
        "task",
        "labels",
        "base_model",
        "strategy",
        "max_length",
        "pairs",
        "temperature",
    ]

    out = tmp_path / "run"
    added: list[str] = []
    write_run(
        out,
        cfg,
        built.model,
        resolved.tokenizer,
        meta,
        metrics,
        add_files=lambda stage, _: added.append(stage.name),
    )
    names = {p.name for p in out.iterdir()}
    assert names == {"model", "metrics.json", "config.json", "report.md", "README.md"}
    assert json.loads((out / "metrics.json").read_text())["task"] == "classification"
    assert json.loads((out / "model" / "headstart.json").read_text())["temperature"] > 0
    assert len(added) == 1


def test_task_post_fit_steps_follow_their_options() -> None:
    torch.manual_seed(0)
    targets = {"eval": torch.randint(0, 2, (40,))}
    logits = {"eval": torch.randn(40, 2)}
    off = FitConfig("x.csv", calibrate=False)
    assert ClassificationTask(["a", "b"]).post_fit(off, logits, targets) == PostFit()
    assert RegressionTask(0.0, 1.0).post_fit(FitConfig("x.csv"), logits, targets) == PostFit()

    multi = MultiLabelTask(["x", "y"])
    ml_targets = {"eval": (torch.rand(60, 2) > 0.5).float()}
    ml_logits = {"eval": ml_targets["eval"] * 4 - 2 + torch.randn(60, 2) * 0.1}
    assert multi.post_fit(FitConfig("x.csv"), ml_logits, ml_targets) == PostFit()
    post = multi.post_fit(FitConfig("x.csv", tune_threshold=True), ml_logits, ml_targets)
    assert post.metrics == {} and post.meta == {} and multi.per_label is not None
    [note] = post.notes
    assert note.startswith("decision thresholds tuned on the eval split: ")
    assert note.endswith("of 2 labels have 25+ eval examples and their own threshold")


def test_train_model_takes_a_console_or_a_reporter(tiny, tmp_path) -> None:
    cfg = config(tiny, write_csv(tmp_path / "train.csv", 20), tmp_path, strategy="head")
    from_console = fit_module.train_model(cfg, Console(quiet=True))
    reporter = Captured()
    trained = fit_module.train_model(cfg, reporter)
    assert trained.metrics["task"] == "classification" and trained.meta["strategy"] == "head"
    assert list(trained.metrics) == list(from_console.metrics)
    assert reporter.lines()[0].startswith("data: 18 train, 2 eval; task classification")
    assert isinstance(Reporter.of(reporter), Captured)
    for name in (
        "Trained",
        "read_splits",
        "write_run",
        "subsample_train",
        "swap_pairs",
        "splits_by_name",
    ):
        assert hasattr(fit_module, name)


def test_the_orchestration_stays_short() -> None:
    import inspect

    lines = inspect.getsource(fit_module.train_model).splitlines()
    assert len(lines) <= 60
