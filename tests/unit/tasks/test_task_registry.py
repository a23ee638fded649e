"""The task registry: every task type is a registered class, found by its name from a saved
model's meta or a metrics.json, and adding one is a module and a ``register`` line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from headstart.config.names import TASK_NAMES
from headstart.data.labelled import LABEL_RULES
from headstart.data.labelled import TASKS as DATA_TASKS
from headstart.errors import ConfigError, DataError, ModelError
from headstart.tasks import (
    TASKS,
    ClassificationTask,
    MultiLabelTask,
    RegressionTask,
    Task,
    TokenTask,
    register,
    task_from_meta,
)
from headstart.tasks.base import task_type
from headstart.tasks.imbalance import weighted_loss
from headstart.tasks.metrics import headline, main_metric

EXAMPLES: list[Task] = [
    ClassificationTask(["neg", "pos"]),
    MultiLabelTask(["a", "b", "c"], 0.4),
    RegressionTask(2.0, 0.5),
    TokenTask(["O", "B-PER", "I-PER"]),
]


def test_every_task_type_is_registered_under_its_name() -> None:
    assert list(TASKS) == ["classification", "multilabel", "regression", "tokens"]
    for name, cls in TASKS.items():
        assert cls.name == name and issubclass(cls, Task)


def test_the_names_settings_and_data_know_are_the_registered_ones() -> None:
    """config and data sit below tasks, so they keep the names (and data its label rules by
    name): the same names as the registry."""
    assert tuple(TASKS) == TASK_NAMES == DATA_TASKS
    assert tuple(LABEL_RULES) == TASK_NAMES


@pytest.mark.parametrize("task", EXAMPLES, ids=lambda t: t.name)
def test_a_saved_task_comes_back_from_its_meta(task: Task) -> None:
    again = task_from_meta(task.meta())
    assert type(again) is type(task) and again.meta() == task.meta()


def test_unknown_task_in_a_model_folder_is_refused() -> None:
    with pytest.raises(ModelError, match="known: classification, multilabel"):
        task_from_meta({"task": "ranking", "labels": []})


def test_a_metrics_file_without_a_task_reads_as_classification() -> None:
    assert task_type(None) is ClassificationTask
    assert task_type("regression") is RegressionTask
    assert task_type("from-the-future") is ClassificationTask


def test_class_level_facts_differ_by_task() -> None:
    assert [TASKS[n].per_token for n in TASKS] == [False, False, False, True]
    assert TokenTask.pipeline_tag == "token-classification"
    assert {TASKS[n].pipeline_tag for n in TASKS} - {"token-classification"} == {
        "text-classification"
    }
    assert ClassificationTask.baselines == ("tfidf",)
    assert all("tfidf" not in TASKS[n].baselines for n in TASKS if n != "classification")
    assert all(TASKS[n].described for n in TASKS)


def test_weighted_losses_are_the_tasks() -> None:
    classes = ClassificationTask(["a", "b", "c"])
    loss, weights = weighted_loss(classes, torch.tensor([0, 0, 0, 1]))
    assert weights == pytest.approx([4 / 9, 4 / 3, 0.0])
    logits = torch.randn(4, 3)
    targets = torch.tensor([0, 1, 0, 1])
    expected = nn.functional.cross_entropy(logits, targets, weight=torch.tensor(weights))
    assert torch.allclose(loss(logits, targets), expected)

    labels = MultiLabelTask(["a", "b"])
    loss, pos_weight = labels.weighted_loss(torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]))
    assert pos_weight == pytest.approx([0.5, 2.0])
    assert loss(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])).item() > 0

    with pytest.raises(ConfigError, match="not with --task regression"):
        RegressionTask(0.0, 1.0).weighted_loss(torch.zeros(3))


def test_token_weights_skip_the_positions_without_a_word() -> None:
    task = TokenTask(["O", "B-PER"])
    tags = torch.tensor([[0, 0, 1, -100]])
    targets = task.window_targets([[0, 1, 2]], [(0, 0, 3)], [4], [["O", "O", "B-PER"]])
    assert torch.equal(targets.tags, tags)
    loss, weights = task.weighted_loss(targets)
    assert weights == pytest.approx([0.75, 1.5])
    assert loss(torch.zeros(1, 4, 2), targets).item() == pytest.approx(0.6931, abs=1e-3)


def test_export_agreement_per_task() -> None:
    a = torch.tensor([[2.0, -1.0], [0.5, 0.4]])
    b = torch.tensor([[1.9, -1.0], [0.3, 0.4]])
    assert ClassificationTask(["x", "y"]).agreement(a, b) == pytest.approx(0.5)
    assert MultiLabelTask(["x", "y"], 0.6).agreement(a, b) == pytest.approx(0.5)
    assert RegressionTask(0.0, 1.0).agreement(a[:, :1], b[:, :1]) is None
    padded = torch.zeros(1, 3, 2)
    padded[0, 0] = torch.tensor([1.0, 0.0])
    other = padded.clone()
    other[0, 2] = torch.tensor([0.0, 1.0])  # padding in the reference: not counted
    assert TokenTask(["O", "B-X"]).agreement(padded, other) == 1.0


def test_evaluation_labels_are_checked_by_the_task() -> None:
    assert MultiLabelTask(["a", "b"]).evaluation_labels(["a", ["a", "b"]]) == [["a"], ["a", "b"]]
    with pytest.raises(DataError, match="label 'c' \\(example 2\\)"):
        ClassificationTask(["a", "b"]).evaluation_labels(["a", "c"])
    assert ClassificationTask(["0", "1"]).evaluation_labels([0, 1]) == [0, 1]
    assert RegressionTask(0.0, 1.0).evaluation_labels([0.5, 7]) == [0.5, 7]


# -- the worked example of docs/design/tasks.md: a new task type is one class and register ---
@dataclass
class _OrdinalTask(Task):
    """Ordered grades as one number (a toy): targets are grade indices, the loss MSE."""

    labels: list[str]
    name: str = "ordinal-test"
    main_metric: str = "exact"
    num_outputs: int = 1

    def targets(self, labels: list[Any]) -> torch.Tensor:
        return torch.tensor([float(self.labels.index(str(x))) for x in labels])

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(logits.float()[:, 0], targets)

    def grades(self, logits: torch.Tensor) -> list[int]:
        top = len(self.labels) - 1
        return [min(max(round(v), 0), top) for v in logits.float()[:, 0].tolist()]

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        hits = [g == int(t) for g, t in zip(self.grades(logits), targets.tolist(), strict=True)]
        return {"exact": round(sum(hits) / max(len(hits), 1), 4), "examples": len(hits)}

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        return [{"label": self.labels[g]} for g in self.grades(logits)]

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels}

    headline_keys = ("exact",)
    described = "ordinal grading (one grade per text)"


@pytest.fixture
def ordinal() -> Iterator[type[Task]]:
    register(_OrdinalTask)
    try:
        yield _OrdinalTask
    finally:
        del TASKS["ordinal-test"]


def test_a_new_task_type_needs_only_its_class_and_register(ordinal: type[Task]) -> None:
    task = task_from_meta({"task": "ordinal-test", "labels": ["low", "mid", "high"]})
    assert isinstance(task, ordinal)
    logits = torch.tensor([[0.1], [1.6], [1.2]])
    split = task.metrics(logits, task.targets(["low", "high", "high"]))
    assert main_metric("ordinal-test", split) == "exact" == task.main_metric
    assert headline(split, "ordinal-test") == "exact 0.6667"
    assert task.rows(logits) == [{"label": "low"}, {"label": "high"}, {"label": "mid"}]
    with pytest.raises(ConfigError, match="not with --task ordinal-test"):
        task.weighted_loss(task.targets(["low"]))
