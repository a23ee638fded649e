"""One source for each task's main metric and headline: the task classes. The run list, the
comparison summary, the tuner, the report and the console line all read it from there."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from headstart.comparison.summary import main_score
from headstart.runs import listing
from headstart.runs.report import run_report
from headstart.tasks import (
    TASKS,
    ClassificationTask,
    MultiLabelTask,
    RegressionTask,
    Task,
    TokenTask,
)
from headstart.tasks.metrics import headline, main_metric


def _split(task: Task) -> dict[str, Any]:
    """Real metrics of one split, as the task computes them."""
    torch.manual_seed(0)
    if isinstance(task, TokenTask):
        tags = [["B-PER", "I-PER", "O"], ["O", "O", "O"]] if task.entities else [["N", "V", "N"]]
        tags = [[t for t in s if t in task.labels] or ["O"] for s in tags]
        positions = [list(range(len(s))) for s in tags]
        words = [(i, 0, len(s)) for i, s in enumerate(tags)]
        targets = task.window_targets(positions, words, [len(s) for s in tags], tags)
        return task.metrics(torch.randn(len(tags), 3, len(task.labels)), targets)
    if isinstance(task, RegressionTask):
        return task.metrics(torch.randn(8, 1), torch.randn(8))
    if isinstance(task, MultiLabelTask):
        return task.metrics(torch.randn(8, 2), (torch.rand(8, 2) > 0.5).float())
    return task.metrics(torch.randn(8, 2), torch.tensor([0, 1] * 4))


TASK_EXAMPLES = [
    ClassificationTask(["neg", "pos"]),
    MultiLabelTask(["a", "b"]),
    RegressionTask(0.0, 1.0),
    TokenTask(["O", "B-PER", "I-PER"]),
    TokenTask(["N", "V"]),
]


@pytest.mark.parametrize("task", TASK_EXAMPLES, ids=lambda t: f"{t.name}-{t.num_outputs}")
def test_every_reader_of_the_main_metric_agrees_with_the_task(task: Task) -> None:
    split = _split(task)
    metric = task.main_metric
    assert type(task).main_metric_of(split) == metric
    assert main_metric(task.name, split) == metric
    assert listing.main_metric(task.name, split) == metric
    assert main_score({"task": task.name, "eval": split}) == (metric, "eval", split[metric])
    assert metric in TASKS[task.name].headline_keys
    assert f"{metric} {split[metric]:.4f}" in headline(split, task.name)


def test_the_expected_main_metrics() -> None:
    assert [TASKS[n].main_metric_of({}) for n in TASKS] == [
        "accuracy",
        "macro_f1",
        "pearson",
        "accuracy",  # word tags without entities
    ]
    assert TokenTask.main_metric_of({"f1": 0.5, "accuracy": 0.9}) == "f1"
    assert main_metric(None, {}) == "accuracy"  # metrics from before the "task" field


def test_the_report_table_shows_the_headline_keys() -> None:
    split = _split(MultiLabelTask(["a", "b"]))
    metrics = {
        "task": "multilabel",
        "labels": ["a", "b"],
        "strategy": "full",
        "strategy_summary": "every weight",
        "data": "d.csv",
        "model": "minilm",
        "trainable_params": 5,
        "total_params": 10,
        "train_seconds": 1.0,
        "history": [{"epoch": 1, "train_loss": 0.5, "eval_loss": 0.4, "seconds": 1.0} | split],
        "best_epoch": 1,
        "precision": "fp32",
        "examples": {"train": 8, "eval": 8},
        "skipped_rows": {"train": 0, "eval": 0},
        "eval": split,
    }
    report = run_report(metrics)
    assert "| split | micro_f1 | macro_f1 | subset_accuracy |" in report
    assert "## Per label (eval)" in report and "## Confusion matrix" not in report
