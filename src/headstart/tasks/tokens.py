"""Token classification (NER, word tags): a tag per word at its first sub-token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from headstart.data.tagged import entity_scheme
from headstart.data.windows import case_marker_ids, encode_words
from headstart.errors import ConfigError
from headstart.tasks.base import IGNORE, Task, register, shown_labels
from headstart.tasks.imbalance import balanced_weights
from headstart.tasks.metrics import tagging_metrics

if TYPE_CHECKING:
    from headstart.data.batching import Encoded
    from headstart.data.labelled import LabelledSplit, Splits


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


@register
@dataclass
class TokenTask(Task):
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

    headline_keys = ("precision", "recall", "f1", "accuracy")
    described = "token classification (one tag per word; entities from BIO tags)"
    pipeline_tag = "token-classification"
    per_token = True

    @classmethod
    def main_metric_of(cls, split: dict[str, Any]) -> str:
        """Entity F1 where the tags are entities (BIO), word accuracy otherwise."""
        return "f1" if "f1" in split else "accuracy"

    @classmethod
    def report_sections(cls, split: dict[str, Any], name: str, labels: list[str]) -> list[str]:
        if "per_type" not in split:
            return []
        lines = [
            "",
            f"## Entities per type ({name})",
            "",
            "| type | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for kind, m in split["per_type"].items():
            lines.append(
                f"| {kind} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
                f"| {m['support']} |"
            )
        return lines

    def weighted_loss(
        self, train_targets: TokenTargets
    ) -> tuple[Callable[[torch.Tensor, TokenTargets], torch.Tensor], list[float]]:
        weights = balanced_weights(train_targets.tags.flatten(), self.num_outputs)

        def loss(logits: torch.Tensor, targets: TokenTargets) -> torch.Tensor:
            width = logits.shape[1]
            return nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                targets.tags[:, :width].reshape(-1),
                weight=weights,
                ignore_index=IGNORE,
            )

        return loss, weights.tolist()

    def agreement(self, expected: torch.Tensor, got: torch.Tensor) -> float | None:
        """Per token, over real tokens (padding is all zeros)."""
        real = expected.abs().sum(-1) > 0
        return (expected.argmax(-1) == got.argmax(-1))[real].float().mean().item()

    takes_words = True

    def description(self, splits: Splits) -> str:
        if self.entities:
            kinds = sorted({t[2:] for t in self.labels if t != "O"})
            return f"tokens, entity tags (BIO) of {len(kinds)} types: {', '.join(kinds)}"
        return f"tokens, {len(self.labels)} word tags: {shown_labels(self.labels)}"

    def example_unit(self, pairs: bool) -> str:
        return "sentences"

    def head_pooling(self, wanted: str) -> str:
        return "tokens"  # a score per token, whatever --pooling says

    def case_markers(
        self, tokenizer: Any, wanted: bool | None, encoder_frozen: bool
    ) -> tuple[int, int] | None:
        """By default wherever the tokenizer lower-cases and the encoder is trained (a frozen
        one never learns what the markers mean: on CoNLL-2003 they cost ``head`` 2.6 points of
        F1, and gave ``full`` 1.8)."""
        if wanted is False or (wanted is None and encoder_frozen):
            return None
        markers = case_marker_ids(tokenizer)
        if markers is None and wanted:
            raise ConfigError(
                "--case-markers: this tokenizer keeps case itself or has no [unused1]/[unused2] "
                "entries; leave the option out"
            )
        return markers

    def encode_split(
        self,
        split: LabelledSplit,
        tokenizer: Any,
        max_length: int,
        apart: bool = False,
        markers: tuple[int, int] | None = None,
    ) -> tuple[Encoded, TokenTargets]:
        """Words into windows of at most ``max_length`` tokens; each word's tag goes to its
        first sub-token (``markers``: case markers before capitalised words)."""
        windows = encode_words(tokenizer, split.texts, max_length, markers)
        targets = self.window_targets(
            windows.positions, windows.words, windows.encoded.lengths, split.labels
        )
        return windows.encoded, targets

    def encoding_notes(self, split: LabelledSplit, encoded: Encoded, max_length: int) -> list[str]:
        windows, sentences = len(encoded), len(split)
        if windows <= sentences:
            return []
        return [
            f"windows: {windows - sentences} train sentences longer than --max-length "
            f"{max_length} tokens are split into overlapping windows ({windows} windows)"
        ]
