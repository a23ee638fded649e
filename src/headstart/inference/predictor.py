"""Predict with a trained run folder: sorted batches, inference mode, chosen precision,
results back in input order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import torch

from headstart.core.precision import autocast, pick_device, resolve_precision
from headstart.data.batching import Encoded, collate, encode
from headstart.data.tagged import bio_entities, to_bio
from headstart.data.windows import case_marker_ids, encode_words
from headstart.engine.training import in_input_order
from headstart.errors import DataError, ModelError
from headstart.models.classifier import TextClassifier
from headstart.tasks import TokenTask, task_from_meta
from headstart.tasks.pairs import pair_encoding


def auto_workers(device: str) -> int:
    """Forward threads for a server's small batches: on a CPU one per core (at most 4), each
    with one intra-op thread; on a GPU one."""
    return max(1, min(4, torch.get_num_threads())) if device == "cpu" else 1


def forward_pool(workers: int, name: str) -> ThreadPoolExecutor | None:
    """Threads for ``workers`` concurrent model calls (none for one: the caller's thread)."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name) if workers > 1 else None


class Predictor:
    def __init__(
        self,
        model: TextClassifier,
        tokenizer: Any,
        meta: dict[str, Any],
        *,
        device: str,
        precision: str,
        batch_size: int = 64,
        max_length: int | None = None,
        workers: int = 1,
    ):
        self.model = model.inference_copy(precision)
        self.tokenizer = tokenizer
        self.meta = meta
        self.task = task_from_meta(meta)
        self.labels: list[str] = list(meta.get("labels", []))
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.max_length = max_length or int(meta.get("max_length", 256))
        self.workers = max(1, workers)
        if self.workers > 1:
            # Each worker runs its own batches on its own thread; torch's intra-op threads (for
            # this process) are shared out so that workers x threads stays at the cores there were.
            torch.set_num_threads(max(1, torch.get_num_threads() // self.workers))
        self._pool = forward_pool(self.workers, "headstart-forward")

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        *,
        precision: str = "auto",
        batch_size: int = 64,
        max_length: int | None = None,
        device: str | None = None,
        workers: int = 1,
    ) -> Predictor:
        from transformers import AutoTokenizer

        from headstart.core.env import quiet_transformers

        quiet_transformers()
        path = Path(run_dir)
        if not path.exists():
            raise ModelError(
                f"{path}: run folder not found; pass a folder written by 'headstart fit'"
            )
        folder = path / "model" if (path / "model").is_dir() else path
        device = device or pick_device()
        model, meta = TextClassifier.load(folder, device)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(
            model,
            tokenizer,
            meta,
            device=device,
            precision=resolve_precision(precision, device),
            batch_size=batch_size,
            max_length=max_length,
            workers=workers,
        )

    @property
    def pairs(self) -> bool:
        """Was the model trained on sentence pairs?"""
        return bool(self.meta.get("pairs", False))

    @property
    def apart(self) -> bool:
        """Are the two texts of a pair encoded apart (``--pair-encoding bi``)?"""
        return pair_encoding(self.meta.get("pair_encoding", "cross")).apart

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        """(N, outputs) raw head outputs in input order; batches sorted by length."""
        if not texts:
            return torch.empty(0, self.model.head.out_features)
        if self.apart and pairs is None:
            raise ModelError(
                "this model compares two texts (--pair-encoding bi); pass pairs= with the "
                "second text of each"
            )
        return self._run(encode(self.tokenizer, texts, self.max_length, pairs, self.apart))

    def _run(self, encoded: Encoded) -> torch.Tensor:
        """Head outputs of encoded rows in input order: (N, outputs), or (N, longest, outputs)
        zero-padded for a token model."""

        def run(idx: list[int]) -> torch.Tensor:
            # inside: inference mode and autocast are per thread, and run may be on a worker
            with torch.inference_mode(), autocast(self.precision, self.device):
                batch = {k: v.to(self.device) for k, v in collate(encoded, idx).items()}
                return self.model(**batch).float().cpu()

        return in_input_order(encoded.lengths, self.batch_size, run, self._pool, self.workers)

    # -- token classification ---------------------------------------------------------------
    @cached_property
    def case_markers(self) -> tuple[int, int] | None:
        """The case marker ids the model was trained with (``--case-markers``), or None."""
        if not self.meta.get("case_markers"):
            return None
        markers = case_marker_ids(self.tokenizer)
        if markers is None:
            raise ModelError(
                "this model was trained with case markers, but its tokenizer has no "
                "[unused1]/[unused2] entries or keeps case; use the tokenizer saved with it"
            )
        return markers

    @property
    def tokens(self) -> bool:
        """Does this model tag words (token classification)?"""
        return self.task.per_token

    @property
    def tagger(self) -> TokenTask:
        """The task of a model that tags words, which the word methods below need."""
        if not self.tokens:
            raise ModelError(f"this model does {self.task.name}, not word tags (--task tokens)")
        return cast(TokenTask, self.task)

    def word_probabilities(self, sentences: list[list[str]]) -> list[torch.Tensor]:
        """Per sentence: (words, tags) probabilities, from each word's first sub-token; long
        sentences run in windows."""
        tagger = self.tagger
        if not sentences:
            return []
        windows = encode_words(self.tokenizer, sentences, self.max_length, self.case_markers)
        per_window = tagger.word_scores(self._run(windows.encoded), windows.positions)
        out: list[list[torch.Tensor]] = [[] for _ in sentences]
        for probs, sentence in zip(per_window, windows.sentence_of, strict=True):
            out[sentence].append(probs)
        size = len(self.labels)
        return [torch.cat(p) if p else torch.empty(0, size) for p in out]

    def tag(self, sentences: list[list[str]]) -> list[dict[str, Any]]:
        """Pre-split words: one tag (and its probability) per word, ``{"tokens", "tags",
        "scores"}``."""
        rows = []
        for words, probs in zip(sentences, self.word_probabilities(sentences), strict=True):
            best, ids = probs.max(-1) if len(words) else (torch.empty(0), torch.empty(0))
            rows.append(
                {
                    "tokens": words,
                    "tags": [self.labels[int(i)] for i in ids],
                    "scores": [round(float(v), 6) for v in best],
                }
            )
        return rows

    def entities(self, texts: list[str]) -> list[dict[str, Any]]:
        """Raw text: entity spans ``{"text", "type", "start", "end", "score"}`` with character
        offsets into the text; the score is the mean probability of the entity's word tags. A
        model with plain word tags gives ``{"tokens", "tags", "scores", "offsets"}`` instead."""
        tagger = self.tagger
        split = [split_words(self.tokenizer, text) for text in texts]
        tagged = self.tag([[w for w, _ in words] for words in split])
        rows = []
        for text, words, row in zip(texts, split, tagged, strict=True):
            offsets = [span for _, span in words]
            if not tagger.entities:
                rows.append({"text": text, **row, "offsets": offsets})
                continue
            tags, _ = to_bio(row["tags"])  # a stray I-X begins an entity
            spans = []
            for kind, first, end in bio_entities(tags):
                start, stop = offsets[first][0], offsets[end - 1][1]
                score = sum(row["scores"][first:end]) / (end - first)
                spans.append(
                    {"text": text[start:stop], "type": kind, "start": start, "end": stop,
                     "score": round(score, 6)}
                )  # fmt: skip
            rows.append({"text": text, "entities": spans})
        return rows

    def calibrated(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits divided by the temperature fitted on the eval split at training time (if
        any): the same predicted class, with scores that match how often it is right."""
        return logits / float(self.meta.get("temperature", 1.0))

    def probabilities(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        """(N, classes) probabilities in input order (classification)."""
        return self.calibrated(self.logits(texts, pairs)).softmax(-1)

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """One row per text, in input order. Classification: ``{"text", "label", "score",
        "scores": {label: probability}}``; regression: ``{"text", "value"}``; pairs add
        ``"text_pair"``."""
        if self.tokens:
            return self.entities(texts)
        rows = self.task.rows(self.calibrated(self.logits(texts, pairs)))
        out = []
        for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
            first = {"text": text} | ({"text_pair": pairs[i]} if pairs is not None else {})
            out.append(first | row)
        return out

    def evaluate_tags(self, sentences: list[list[str]], tags: list[list[str]]) -> dict[str, Any]:
        """Entity-level (or word-level) metrics of a token model on tagged sentences."""
        from headstart.tasks.metrics import tagging_metrics

        tagger = self.tagger
        known = set(self.labels)
        for i, sentence_tags in enumerate(tags):
            unseen = [t for t in sentence_tags if t not in known]
            if unseen:
                raise DataError(
                    f"tag '{unseen[0]}' (sentence {i + 1}) is not one the model was trained on; "
                    f"its tags are: {', '.join(self.labels)}"
                )
        predicted = [row["tags"] for row in self.tag(sentences)]
        return tagging_metrics(tags, predicted, tagger.entities)

    def evaluate(
        self, texts: list[str], labels: list[Any], pairs: list[str] | None = None
    ) -> dict[str, Any]:
        labels = self.task.evaluation_labels(labels)  # checked against the model's labels
        return self.task.metrics(self.logits(texts, pairs), self.task.targets(labels))


def split_words(tokenizer: Any, text: str) -> list[tuple[str, tuple[int, int]]]:
    """Raw text → words with character offsets, split the way the model's own tokenizer splits
    before sub-words (BERT: at whitespace and punctuation), so that spans end at word edges."""
    import re

    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None) if backend is not None else None
    if pre is not None:
        spans = [span for _, span in pre.pre_tokenize_str(text)]
    else:
        spans = [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]
    words = []
    for start, end in spans:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:  # byte-level pre-tokenizers keep the leading space inside the word
            start += len(piece) - len(piece.lstrip())
            words.append((stripped, (start, start + len(stripped))))
    return words
