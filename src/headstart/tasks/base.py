"""The task interface and its registry.

A task says what the head outputs, how targets are made from labels, the loss, the metrics
(and which one is the headline), the prediction rows and what the saved model must remember
(``meta``). The training loop, the predictor and the reports only talk to a :class:`Task`:
adding a task type means one new module in this package that defines a subclass decorated
with :func:`register`, and one import line in ``headstart/tasks/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from headstart.data.batching import Encoded, encode
from headstart.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from headstart.config import FitConfig
    from headstart.data.labelled import LabelledSplit, Splits


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

    # What the fit pipeline (headstart.pipeline) asks of a task, from data to post-fit steps.
    takes_words: ClassVar[bool] = False  # the tokenizer is given pre-split words
    stratify: ClassVar[bool] = False  # eval splits and --train-size keep each label's share

    @classmethod
    def from_splits(cls, splits: Splits, config: FitConfig) -> Task:
        """The task of freshly read training data; ``config`` has the options it takes."""
        return cls(splits.labels.names)  # type: ignore[call-arg]

    def description(self, splits: Splits) -> str:
        """The task on the console's data line, after "task "."""
        return self.name

    def example_unit(self, pairs: bool) -> str:
        """What the data line counts ("" for plain texts)."""
        return "sentence pairs" if pairs else ""

    def head_pooling(self, wanted: str) -> str:
        """The pooling the head reads, given ``--pooling``."""
        return wanted

    def case_markers(
        self, tokenizer: Any, wanted: bool | None, encoder_frozen: bool
    ) -> tuple[int, int] | None:
        """Ids of the case marker tokens put before capitalised words, or None for none."""
        if wanted:
            raise ConfigError("--case-markers is for token classification (--task tokens)")
        return None

    def encode_split(
        self,
        split: LabelledSplit,
        tokenizer: Any,
        max_length: int,
        apart: bool = False,
        markers: tuple[int, int] | None = None,
    ) -> tuple[Encoded, Any]:
        """Token ids and training targets of one split. ``apart``: the two texts of a pair are
        encoded separately (bi-encoder)."""
        encoded = encode(tokenizer, split.texts, max_length, split.pairs, apart)
        return encoded, self.targets(split.labels)

    def encoding_notes(self, split: LabelledSplit, encoded: Encoded, max_length: int) -> list[str]:
        """Console lines about how the training split was encoded."""
        return []

    def post_fit(
        self, config: FitConfig, logits: dict[str, torch.Tensor], targets: dict[str, Any]
    ) -> PostFit:
        """Steps after training, on the eval (and test) logits: tuning, calibration."""
        return PostFit()


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


@dataclass
class PostFit:
    """What a task's post-fit steps give: console lines, metrics.json entries and entries of the
    saved model's ``headstart.json`` (what the predictor applies)."""

    notes: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def shown_labels(labels: list[str], most: int = 10) -> str:
    """The first ``most`` labels, comma-separated, with " …" when there are more."""
    return ", ".join(labels[:most]) + (" …" if len(labels) > most else "")
