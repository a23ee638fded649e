"""The task interface and its registry.

A task says what the head outputs, how targets are made from labels, the loss, the metrics
(and which one is the headline), the prediction rows and what the saved model must remember
(``meta``). The training loop, the predictor and the reports only talk to a :class:`Task`:
adding a task type means one new module in this package that defines a subclass decorated
with :func:`register`, and one import line in ``headstart/tasks/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from headstart.data.batching import Encoded, encode
from headstart.errors import ConfigError, DataError, ModelError

IGNORE = -100  # cross_entropy's ignore_index: positions that are not a word's first token

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

    # -- what reports say: class-level, as a metrics.json names its task but holds no task --
    headline_keys: ClassVar[tuple[str, ...]] = ()  # the main numbers of a split, in this order
    described: ClassVar[str] = ""  # the model card's "A model for ..."
    pipeline_tag: ClassVar[str] = "text-classification"  # the model card's hub pipeline
    use_note: ClassVar[str] = ""  # the model card: after "It knows only the labels ..."
    per_token: ClassVar[bool] = False  # logits per token, (batch, sequence, outputs)
    baselines: ClassVar[tuple[str, ...]] = ()  # the encoder-free baselines of ``compare``

    @classmethod
    def main_metric_of(cls, split: dict[str, Any]) -> str:
        """The main metric of one split's metrics as ``metrics.json`` holds them, where no task
        object is at hand (run lists, comparisons, tuning): the same as ``task.main_metric``."""
        return str(cls.main_metric)

    @classmethod
    def report_sections(cls, split: dict[str, Any], name: str, labels: list[str]) -> list[str]:
        """``report.md``'s task-specific tables of the final split (``name``)."""
        return []

    def weighted_loss(
        self, train_targets: Any
    ) -> tuple[Callable[[torch.Tensor, Any], torch.Tensor], list[float]]:
        """``--class-weights auto``: the loss with weights from the training targets (rare
        classes weigh more), and the weights (for metrics)."""
        raise ConfigError(
            f"--class-weights works with classes or labels, not with --task {self.name}"
        )

    def cosine_start(
        self, cosines: np.ndarray, wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A bi-encoder's head as a function of the cosine: (slope, intercept) per output,
        fitted to a sample of training targets; None: the head stays random."""
        return None

    def agreement(self, expected: torch.Tensor, got: torch.Tensor) -> float | None:
        """How often two runs of the model (PyTorch and ONNX logits) predict the same; None
        where predictions are numbers, not labels."""
        return None

    def evaluation_labels(self, labels: list[Any]) -> list[Any]:
        """Labels given to ``evaluate``, as :meth:`targets` takes them, each checked to be one
        the model was trained on."""
        return labels

    # What the fit pipeline (headstart.pipeline) asks of a task, from data to post-fit steps.
    takes_words: ClassVar[bool] = False  # the tokenizer is given pre-split words

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


def task_type(name: str | None) -> type[Task]:
    """The registered class of a task name as a ``metrics.json`` spells it; a missing or unknown
    name reads as classification, the only task of files from before the field."""
    return TASKS.get(name or "classification") or TASKS["classification"]


def check_known(labels: list[Any], known: list[str]) -> None:
    """Refuse the first label (or label of a list) the model was not trained on."""
    names = set(known)
    for i, label in enumerate(labels):
        unseen = [x for x in (label if isinstance(label, list) else [label]) if str(x) not in names]
        if unseen:
            raise DataError(
                f"label '{unseen[0]}' (example {i + 1}) is not one the model was trained "
                f"on; its labels are: {', '.join(known)}"
            )


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
