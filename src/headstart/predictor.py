"""Predict with a trained run folder: sorted batches, inference mode, chosen precision,
results back in input order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from headstart.data.batching import collate, encode, sorted_batches
from headstart.errors import DataError, ModelError
from headstart.models.classifier import TextClassifier
from headstart.precision import autocast, pick_device, resolve_precision
from headstart.tasks import MultiLabelTask, RegressionTask, task_from_meta


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

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        *,
        precision: str = "auto",
        batch_size: int = 64,
        max_length: int | None = None,
        device: str | None = None,
    ) -> Predictor:
        from transformers import AutoTokenizer

        from headstart.api import quiet_transformers

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
        )

    @property
    def pairs(self) -> bool:
        """Was the model trained on sentence pairs?"""
        return bool(self.meta.get("pairs", False))

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        """(N, outputs) raw head outputs in input order; batches sorted by length."""
        outputs = self.model.head.out_features
        if not texts:
            return torch.empty(0, outputs)
        encoded = encode(self.tokenizer, texts, self.max_length, pairs)
        out = torch.empty(len(texts), outputs)
        with torch.inference_mode(), autocast(self.precision, self.device):
            for idx in sorted_batches(encoded.lengths, self.batch_size):
                batch = {k: v.to(self.device) for k, v in collate(encoded, idx).items()}
                out[idx] = self.model(**batch).float().cpu()
        return out

    def probabilities(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        """(N, classes) probabilities in input order (classification)."""
        return self.logits(texts, pairs).softmax(-1)

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """One row per text, in input order. Classification: ``{"text", "label", "score",
        "scores": {label: probability}}``; regression: ``{"text", "value"}``; pairs add
        ``"text_pair"``."""
        rows = self.task.rows(self.logits(texts, pairs))
        out = []
        for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
            first = {"text": text} | ({"text_pair": pairs[i]} if pairs is not None else {})
            out.append(first | row)
        return out

    def evaluate(
        self, texts: list[str], labels: list[Any], pairs: list[str] | None = None
    ) -> dict[str, Any]:
        if isinstance(self.task, MultiLabelTask):  # a plain string is a one-label list
            labels = [x if isinstance(x, list) else [x] for x in labels]
        if not isinstance(self.task, RegressionTask):
            known = set(self.labels)
            for i, label in enumerate(labels):
                unseen = [
                    x
                    for x in (label if isinstance(label, list) else [label])
                    if str(x) not in known
                ]
                if unseen:
                    raise DataError(
                        f"label '{unseen[0]}' (example {i + 1}) is not one the model was trained "
                        f"on; its labels are: {', '.join(self.labels)}"
                    )
        return self.task.metrics(self.logits(texts, pairs), self.task.targets(labels))
