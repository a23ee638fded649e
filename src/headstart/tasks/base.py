"""The task interface and its registry.

A task says what the head outputs, how targets are made from labels, the loss, the metrics
(and which one is the headline), the prediction rows and what the saved model must remember
(``meta``). The training loop, the predictor and the reports only talk to a :class:`Task`:
adding a task type means one new module in this package that defines a subclass decorated
with :func:`register`, and one import line in ``headstart/tasks/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from headstart.errors import ModelError


class Task(ABC):
    """What differs between task types. Subclasses are dataclasses; ``name`` is the value of
    ``--task`` and of ``"task"`` in ``metrics.json`` and the model's ``headstart.json``."""

    name: ClassVar[str] | str
    main_metric: str

    @property
    @abstractmethod
    def num_outputs(self) -> int: ...

    @abstractmethod
    def targets(self, labels: list[Any]) -> Any:
        """Training targets of a split's labels."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, targets: Any) -> torch.Tensor: ...

    @abstractmethod
    def metrics(self, logits: torch.Tensor, targets: Any) -> dict[str, Any]: ...

    @abstractmethod
    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        """One prediction row per input: what ``predict`` and ``serve`` answer."""

    @abstractmethod
    def meta(self) -> dict[str, Any]:
        """What the saved model must remember to rebuild this task (:meth:`from_meta`)."""

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Task:
        return cls(list(meta["labels"]))  # type: ignore[call-arg]


TASKS: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Add a task type to :data:`TASKS` under its ``name``."""
    TASKS[cls.name] = cls  # type: ignore[index]
    return cls


def task_from_meta(meta: dict[str, Any]) -> Task:
    """The task a saved model was trained for (its ``headstart.json``)."""
    kind = meta.get("task", "classification")
    if kind not in TASKS:
        raise ModelError(
            f"the model was saved for task '{kind}', which this headstart does not know; "
            f"known: {', '.join(TASKS)}"
        )
    return TASKS[kind].from_meta(meta)
