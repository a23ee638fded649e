"""Tasks: what the head outputs, its loss, its metrics and its prediction rows.

The training loop and the predictor only talk to a :class:`Task`; adding a task type means
adding one class here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.data.labelled import LabelSpace
from headstart.data.tagged import entity_scheme
from headstart.evaluation import (
    classification_metrics,
    multilabel_metrics,
    regression_metrics,
    tagging_metrics,
)


@dataclass
class ClassificationTask:
    labels: list[str]
    name: str = "classification"
    main_metric: str = "accuracy"

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def targets(self, labels: list[Any]) -> torch.Tensor:
        return torch.tensor(LabelSpace(self.labels).ids(labels))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        return classification_metrics(targets.tolist(), logits.argmax(-1).tolist(), self.labels)

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        probs = logits.float().softmax(-1).tolist()
        rows = []
        for p in probs:
            best = max(range(len(p)), key=p.__getitem__)
            scores = {name: round(v, 6) for name, v in zip(self.labels, p, strict=True)}
            rows.append({"label": self.labels[best], "score": round(p[best], 6), "scores": scores})
        return rows

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels}


@dataclass
class RegressionTask:
    """Targets are standardised with the training mean and deviation for the loss; outputs are
    put back on the original scale before metrics and predictions."""

    mean: float
    std: float
    name: str = "regression"
    main_metric: str = "pearson"
    num_outputs: int = 1

    @classmethod
    def fit(cls, values: list[float]) -> RegressionTask:
        array = np.asarray(values, dtype=np.float64)
        return cls(float(array.mean()), float(array.std()) or 1.0)

    def targets(self, labels: list[Any]) -> torch.Tensor:
        return torch.tensor([float(x) for x in labels], dtype=torch.float32)

    def restore(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float()[:, 0] * self.std + self.mean

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scaled = (targets - self.mean) / self.std
        return nn.functional.mse_loss(logits.float()[:, 0], scaled)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        return regression_metrics(targets.tolist(), self.restore(logits).tolist())

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        return [{"value": round(v, 6)} for v in self.restore(logits).tolist()]

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": [], "target_mean": self.mean, "target_std": self.std}


@dataclass
class MultiLabelTask:
    """Independent yes/no per label: sigmoid outputs, binary cross-entropy and a decision
    threshold: 0.5, or tuned on the eval split with ``--tune-threshold``: one threshold for
    macro-F1, then a label's own threshold where the eval split has enough of its examples
    (``MIN_POSITIVES``) to choose one without fitting noise."""

    labels: list[str]
    threshold: float = 0.5
    per_label: list[float] | None = None  # tuned thresholds, one per label
    name: str = "multilabel"
    main_metric: str = "macro_f1"

    MIN_POSITIVES = 25
    GRID = tuple(float(t) for t in np.round(np.arange(0.05, 0.951, 0.025), 3))

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    @property
    def thresholds(self) -> np.ndarray:
        if self.per_label is not None:
            return np.asarray(self.per_label)
        return np.full(len(self.labels), self.threshold)

    def targets(self, labels: list[Any]) -> torch.Tensor:
        index = {name: i for i, name in enumerate(self.labels)}
        out = torch.zeros(len(labels), len(self.labels))
        for row, names in enumerate(labels):
            for name in names:
                out[row, index[str(name)]] = 1.0
        return out

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        probs = logits.float().sigmoid().numpy()
        out = multilabel_metrics(targets.numpy(), probs >= self.thresholds, self.labels)
        out["threshold"] = self.threshold
        if self.per_label is not None:
            for name, t in zip(self.labels, self.per_label, strict=True):
                out["per_label"][name]["threshold"] = t
        return out

    def tune_threshold(self, logits: torch.Tensor, targets: torch.Tensor) -> int:
        """Choose the thresholds on eval logits; returns how many labels got their own."""
        from sklearn.metrics import f1_score

        probs = logits.float().sigmoid().numpy()
        truth = targets.numpy().astype(int)
        best = max(
            (multilabel_metrics(truth, probs >= t, self.labels)["macro_f1"], -abs(t - 0.5), t)
            for t in self.GRID
        )
        self.threshold = float(best[2])
        per_label, own = [], 0
        for j in range(len(self.labels)):
            if truth[:, j].sum() < self.MIN_POSITIVES:
                per_label.append(self.threshold)
                continue
            column = truth[:, j]
            scores = [
                (f1_score(column, probs[:, j] >= t, zero_division=0), -abs(t - self.threshold), t)
                for t in self.GRID
            ]
            per_label.append(float(max(scores)[2]))
            own += 1
        self.per_label = per_label
        return own

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        rows = []
        cut = self.thresholds.tolist()
        for p in logits.float().sigmoid().tolist():
            chosen = [name for name, v, t in zip(self.labels, p, cut, strict=True) if v >= t]
            scores = {name: round(v, 6) for name, v in zip(self.labels, p, strict=True)}
            rows.append({"labels": chosen, "scores": scores})
        return rows

    def meta(self) -> dict[str, Any]:
        meta = {"task": self.name, "labels": self.labels, "threshold": self.threshold}
        return meta | ({"thresholds": self.per_label} if self.per_label is not None else {})


IGNORE = -100  # cross_entropy's ignore_index: positions that are not a word's first token


@dataclass
class TokenTargets:
    """Targets of token windows: the tag id at each scored position (``IGNORE`` elsewhere) for
    the loss, and which words of which sentence each window scores, to rebuild sentences for
    entity-level metrics."""

    tags: torch.Tensor  # (windows, longest window) int64
    positions: list[list[int]]  # per window: token position of each scored word
    words: list[tuple[int, int, int]]  # per window: (sentence, first word, last word + 1)
    truth: list[list[int]]  # per window: tag id of each scored word

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, idx: list[int]) -> TokenTargets:
        return TokenTargets(
            self.tags[idx],
            [self.positions[i] for i in idx],
            [self.words[i] for i in idx],
            [self.truth[i] for i in idx],
        )

    def to(self, device: str) -> TokenTargets:
        return TokenTargets(self.tags.to(device), self.positions, self.words, self.truth)


@dataclass
class TokenTask:
    """One tag per word, predicted at the word's first sub-token. With entity tags (BIO) the
    main metric is entity-level F1 (seqeval, conlleval convention); with plain word classes it
    is word accuracy."""

    labels: list[str]
    name: str = "tokens"

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    @property
    def entities(self) -> bool:
        return entity_scheme([self.labels])

    @property
    def main_metric(self) -> str:
        return "f1" if self.entities else "accuracy"

    def window_targets(self, positions: list[list[int]], words: list[tuple[int, int, int]],
                       widths: list[int], tags: list[list[str]]) -> TokenTargets:  # fmt: skip
        index = {name: i for i, name in enumerate(self.labels)}
        table = torch.full((len(positions), max(widths, default=1)), IGNORE, dtype=torch.long)
        truth = []
        for w, (scored, (s, first, end)) in enumerate(zip(positions, words, strict=True)):
            ids = [index[t] for t in tags[s][first:end]]
            table[w, scored] = torch.tensor(ids, dtype=torch.long)
            truth.append(ids)
        return TokenTargets(table, positions, words, truth)

    def loss(self, logits: torch.Tensor, targets: TokenTargets) -> torch.Tensor:
        width = logits.shape[1]
        return nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            targets.tags[:, :width].reshape(-1),
            ignore_index=IGNORE,
        )

    def word_scores(self, logits: torch.Tensor, positions: list[list[int]]) -> list[torch.Tensor]:
        """Per window: (scored words, tags) probabilities at the words' first tokens."""
        return [logits[w, scored].float().softmax(-1) for w, scored in enumerate(positions)]

    def sentences(
        self, per_window: list[list[int]], words: list[tuple[int, int, int]]
    ) -> list[list[int]]:
        """Windows' word values joined back into sentences (windows of a sentence are adjacent)."""
        out: list[list[int]] = []
        last = None
        for values, (s, _, _) in zip(per_window, words, strict=True):
            if s != last:
                out.append([])
                last = s
            out[-1].extend(values)
        return out

    def metrics(self, logits: torch.Tensor, targets: TokenTargets) -> dict[str, Any]:
        predicted = [p.argmax(-1).tolist() for p in self.word_scores(logits, targets.positions)]
        true = self.sentences(targets.truth, targets.words)
        pred = self.sentences(predicted, targets.words)
        name = self.labels.__getitem__
        return tagging_metrics(
            [list(map(name, s)) for s in true], [list(map(name, s)) for s in pred], self.entities
        )

    def targets(self, labels: list[Any]) -> torch.Tensor:
        raise TypeError("token targets come from window_targets(), which knows the windows")

    def rows(self, logits: torch.Tensor) -> list[dict[str, Any]]:
        raise TypeError("token rows come from the predictor, which knows the words")

    def meta(self) -> dict[str, Any]:
        return {"task": self.name, "labels": self.labels}


Task = ClassificationTask | RegressionTask | MultiLabelTask | TokenTask


def task_from_meta(meta: dict[str, Any]) -> Task:
    kind = meta.get("task", "classification")
    if kind == "tokens":
        return TokenTask(list(meta["labels"]))
    if kind == "regression":
        return RegressionTask(float(meta["target_mean"]), float(meta["target_std"]))
    if kind == "multilabel":
        per_label = meta.get("thresholds")
        return MultiLabelTask(
            list(meta["labels"]),
            float(meta.get("threshold", 0.5)),
            [float(t) for t in per_label] if per_label is not None else None,
        )
    return ClassificationTask(list(meta["labels"]))
