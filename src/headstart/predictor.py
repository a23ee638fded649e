"""Predict with a trained run folder: sorted batches, inference mode, chosen precision,
results back in input order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from headstart.data.batching import collate, encode, sorted_batches
from headstart.errors import ModelError
from headstart.evaluation import classification_metrics
from headstart.models.classifier import TextClassifier
from headstart.precision import autocast, pick_device, resolve_precision


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
        self.labels: list[str] = list(meta["labels"])
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

    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """(N, classes) probabilities in input order."""
        if not texts:
            return torch.empty(0, len(self.labels))
        encoded = encode(self.tokenizer, texts, self.max_length)
        out = torch.empty(len(texts), len(self.labels))
        with torch.inference_mode(), autocast(self.precision, self.device):
            for idx in sorted_batches(encoded.lengths, self.batch_size):
                batch = {k: v.to(self.device) for k, v in collate(encoded, idx).items()}
                out[idx] = self.model(**batch).float().softmax(-1).cpu()
        return out

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """One row per text: ``{"text", "label", "score", "scores": {label: probability}}``."""
        probs = self.probabilities(texts)
        rows = []
        for text, p in zip(texts, probs.tolist(), strict=True):
            best = max(range(len(p)), key=p.__getitem__)
            rows.append(
                {
                    "text": text,
                    "label": self.labels[best],
                    "score": round(p[best], 6),
                    "scores": {name: round(v, 6) for name, v in zip(self.labels, p, strict=True)},
                }
            )
        return rows

    def evaluate(self, texts: list[str], labels: list[Any]) -> dict[str, Any]:
        known = {name: i for i, name in enumerate(self.labels)}
        y_true = []
        for i, label in enumerate(labels):
            if str(label) not in known:
                from headstart.errors import DataError

                raise DataError(
                    f"label '{label}' (example {i + 1}) is not one the model was trained on; "
                    f"its labels are: {', '.join(self.labels)}"
                )
            y_true.append(known[str(label)])
        y_pred = self.probabilities(texts).argmax(-1).tolist()
        return classification_metrics(y_true, y_pred, self.labels)
